"""A throw-away PostgreSQL server on loopback, for tests of the MLflow store (Debian packages).

`start_server()` finds `initdb` and `postgres` under /usr/lib/postgresql/<version>/bin (the
newest; else on PATH), installing the `postgresql` package with apt-get when missing and run as
root. It creates a cluster in a private folder with one password user, starts `postgres` in the
foreground as a child process on a free 127.0.0.1 port (no unix socket, no fsync: nothing here
outlives the test), creates a database, and returns a `Server` whose `uri` is the tracking URI
docs/slurm.md documents: `postgresql://hyctas:PASSWORD@127.0.0.1:PORT/mlflow`. `Server.stop()`
stops exactly that process, by PID, and removes the folder. Anything that prevents a start
raises `ServerUnavailable` with the reason, which tests turn into a skip (a failure where
`HYCTAS_REQUIRE_E2E_TOOLS` is set: `tests.conftest.skip_or_fail`).

PostgreSQL refuses to run as root. As root, the cluster belongs to the `postgres` user (made by
the Debian package; else `nobody`) and lives in a folder of its own under the temp dir, since
pytest's tmp_path is private to root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "postgresql"
CREATECLUSTER = Path("/etc/postgresql-common/createcluster.conf")
USER = "hyctas"
DATABASE = "mlflow"


class ServerUnavailable(RuntimeError):
    """A local PostgreSQL server cannot be started here (the message says why)."""


def bin_dir() -> Path | None:
    """The folder of the newest PostgreSQL server binaries, or None."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if found:
        return max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)])
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def ensure_installed(timeout: int = 300) -> Path:
    """The server binaries' folder; apt-get installs `postgresql` when missing (root only)."""
    if (found := bin_dir()) is not None:
        return found
    if os.geteuid() != 0:
        raise ServerUnavailable("PostgreSQL is not installed and installing it needs root")
    if not shutil.which("apt-get"):
        raise ServerUnavailable("PostgreSQL is not installed and there is no apt-get to install it")
    # Debian's package would create and start a `main` cluster on port 5432 that outlives the
    # test (on a systemd machine); postgresql-common keeps this local setting when it installs.
    CREATECLUSTER.parent.mkdir(parents=True, exist_ok=True)
    with open(CREATECLUSTER, "a") as conf:
        conf.write("create_main_cluster = false\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=timeout)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or (found := bin_dir()) is None:
        raise ServerUnavailable(f"apt-get install {PACKAGE} failed: {proc.stderr[-500:]}")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _owner() -> pwd.struct_passwd | None:
    """The user the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServerUnavailable("running as root, and there is no `postgres` or `nobody` user")


@dataclass
class Server:
    """A running server: `uri` for MLflow, `stop()` to end it."""

    root: Path
    process: subprocess.Popen
    port: int
    password: str

    @property
    def uri(self) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{DATABASE}"

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop the server process (SIGINT: fast shutdown), then remove its folder."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(cmd: list, owner: pwd.struct_passwd | None, **kwargs) -> subprocess.CompletedProcess:
    ids = {"user": owner.pw_uid, "group": owner.pw_gid} if owner else {}
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=120, **ids, **kwargs
    )


def start_server(ready_timeout: float = 60) -> Server:
    """Install if needed, initialise and start a server with an empty database `mlflow`."""
    binaries = ensure_installed()
    owner = _owner()
    root = Path(tempfile.mkdtemp(prefix="hyctas-postgres-"))
    if owner:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    password = secrets.token_hex(12)
    (root / "pwfile").write_text(password + "\n")
    if owner:
        os.chown(root / "pwfile", owner.pw_uid, owner.pw_gid)
    initdb = [binaries / "initdb", "-D", root / "data", "-U", USER, "--pwfile", root / "pwfile"]
    initdb += ["--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]
    proc = _run([*initdb, "--locale=C"], owner)
    if proc.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"initdb failed: {(proc.stdout + proc.stderr)[-800:]}")
    port = _free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": "",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    cmd = [str(binaries / "postgres"), "-D", str(root / "data")]
    cmd += [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    ids = {"user": owner.pw_uid, "group": owner.pw_gid} if owner else {}
    log = open(root / "server.log", "wb")  # noqa: SIM115 - the child keeps it; closed on exit
    try:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **ids)
    finally:
        log.close()
    server = Server(root, process, port, password)
    env = {**os.environ, "PGPASSWORD": password}
    address = ["-h", "127.0.0.1", "-p", str(port), "-U", USER]
    deadline = time.time() + ready_timeout
    while True:
        ready = _run([binaries / "pg_isready", *address, "-d", "postgres"], None, env=env)
        if ready.returncode == 0:
            break
        if process.poll() is not None or time.time() > deadline:
            reason = f"postgres did not start:\n{server.log()[-1500:]}"
            server.stop()
            raise ServerUnavailable(reason)
        time.sleep(0.3)
    created = _run([binaries / "createdb", *address, DATABASE], None, env=env)
    if created.returncode != 0:
        server.stop()
        raise ServerUnavailable(f"createdb failed: {created.stderr[-800:]}")
    return server
