"""A throw-away single-node SLURM cluster on localhost, for tests (needs root and Debian packages).

`start_cluster()` installs `slurmctld slurmd slurm-client munge` with apt-get when missing, writes
a config in a private folder, starts munged (own socket), slurmctld and slurmd in the foreground
as child processes, and waits until the node is idle. `Cluster.stop()` cancels what is left and
stops exactly the daemons it started, by PID. Anything that prevents a start raises
`ClusterUnavailable` with the reason, which tests turn into a skip.

The config follows docs/slurm.md and the stack notes: proctrack/linuxproc, task/none, no
accounting (job completions go to a text file instead), select/cons_tres with CR_Core_Memory,
DefMemPerCPU (else a job without --mem takes the whole node), MinJobAge >= 120 (the executor
plugin polls `squeue`, which forgets finished jobs after MinJobAge). The Snakemake SLURM plugin
strips SLURM_* variables before its inner `srun`, so the config must also be reachable at
/etc/slurm/slurm.conf: a symlink is made there, and removed again, unless a real config exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
LOCK_FILE = Path(tempfile.gettempdir()) / "hyctas-slurm-test.lock"
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "munged"]


class ClusterUnavailable(RuntimeError):
    """A local SLURM cluster cannot be started here (the message says why)."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).is_file()), None
    )


def ensure_installed(timeout: int = 300) -> None:
    """Install the SLURM and munge Debian packages when a binary is missing (root only)."""
    if all(_which(b) for b in BINARIES):
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable("SLURM is not installed and installing it needs root")
    if not shutil.which("apt-get"):
        raise ClusterUnavailable("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=timeout)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    missing = [b for b in BINARIES if not _which(b)]
    if proc.returncode != 0 or missing:
        raise ClusterUnavailable(
            f"apt-get install {' '.join(PACKAGES)} failed: {proc.stderr[-500:]}"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_line(host: str) -> str:
    """The node's hardware as slurmd sees it (`slurmd -C`), so the node is never drained."""
    out = subprocess.run(
        [_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30
    ).stdout
    fields = dict(tok.split("=", 1) for tok in out.splitlines()[0].split() if "=" in tok)
    memory = int(int(fields.get("RealMemory", "2000")) * 0.8)  # leave room for the OS and tests
    keep = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
    hardware = " ".join(f"{k}={fields[k]}" for k in keep if k in fields)
    return f"NodeName={host} NodeAddr=127.0.0.1 {hardware} RealMemory={memory} State=UNKNOWN"


def write_config(root: Path, host: str, munge_socket: Path) -> Path:
    """Write slurm.conf for one node at 127.0.0.1 into `root`; returns its path."""
    for sub in ("state", "spool"):
        (root / sub).mkdir()
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=hyctastest",
                f"SlurmctldHost={host}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                "SlurmUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={munge_socket}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'slurmd.log'}",
                "SlurmctldDebug=info",
                "SlurmdDebug=info",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "MpiDefault=none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/filetxt",
                f"JobCompLoc={root / 'jobcomp.txt'}",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "DefMemPerCPU=500",
                "MinJobAge=300",
                "ReturnToService=2",
                "KillWait=10",
                _node_line(host),
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


@dataclass
class Cluster:
    """A running test cluster: its folder, config, and the daemons it owns."""

    root: Path
    conf: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    linked: bool = False
    lock: object | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM client commands aimed at this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *cmd: str, timeout: int = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command (`squeue`, `sinfo`...) against this cluster."""
        return subprocess.run(
            list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def completed_jobs(self) -> list[dict[str, str]]:
        """Finished jobs recorded by jobcomp/filetxt (one dict of its `Key=Value` fields each)."""
        path = self.root / "jobcomp.txt"
        if not path.is_file():
            return []
        return [
            dict(t.split("=", 1) for t in line.split() if "=" in t)
            for line in path.read_text().splitlines()
        ]

    def log(self, name: str) -> str:
        """The text of a daemon log (`slurmctld.log`, `slurmd.log`, `munged.log`)."""
        path = self.root / name
        return path.read_text(errors="replace") if path.is_file() else ""

    def stop(self) -> None:
        """Cancel every job, stop the daemons this object started (by PID), drop the symlink."""
        if any(p.poll() is None for p in self.processes):
            with contextlib.suppress(Exception):
                self.command(_which("scancel"), "--partition=debug", "--full", timeout=15)
                deadline = time.time() + 20
                while (
                    time.time() < deadline and self.command(_which("squeue"), "-h").stdout.strip()
                ):
                    time.sleep(1)
        for proc in reversed(self.processes):  # slurmd, slurmctld, then munged
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.processes.clear()
        if (
            self.linked
            and SYSTEM_CONF.is_symlink()
            and SYSTEM_CONF.resolve() == self.conf.resolve()
        ):
            SYSTEM_CONF.unlink()
        self.linked = False
        if not os.environ.get("HYCTAS_KEEP_SLURM_LOGS"):  # set it to read the daemons' logs after
            shutil.rmtree(self.root, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()  # releases the flock
            self.lock = None


def _start(
    cluster: Cluster, name: str, cmd: list[str], user: pwd.struct_passwd | None = None
) -> None:
    """Start a daemon as our own child (so it is reaped and stopped by PID), in its own session."""
    log = open(cluster.root / f"{name}.out", "wb")  # noqa: SIM115 - the child keeps it open
    who = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    cluster.processes.append(
        subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=cluster.env,
            **who,
        )
    )


def _wait(what: str, check, cluster: Cluster, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        dead = [p.args for p in cluster.processes if p.poll() is not None]
        if dead:
            raise ClusterUnavailable(f"{dead[0]} exited while waiting for {what}")
        time.sleep(0.5)
    raise ClusterUnavailable(f"timed out after {timeout:.0f} s waiting for {what}")


def _link_config(cluster: Cluster) -> None:
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        target = os.readlink(SYSTEM_CONF) if SYSTEM_CONF.is_symlink() else ""
        stale = target.startswith(tempfile.gettempdir()) and not Path(target).exists()
        if not stale:  # a real cluster's config (or a live test cluster): leave it alone
            raise ClusterUnavailable(
                f"{SYSTEM_CONF} already exists; not replacing a real SLURM config"
            )
        SYSTEM_CONF.unlink()
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.symlink_to(cluster.conf)
    cluster.linked = True


def start_cluster(lock_timeout: float = 600, ready_timeout: float = 60) -> Cluster:
    """Start munged, slurmctld and slurmd for a one-node cluster; returns it once the node is idle.

    Raises:
        ClusterUnavailable: not root, packages cannot be installed, a real SLURM config exists,
            or a daemon does not come up (its log is quoted).
    """
    if os.geteuid() != 0:
        raise ClusterUnavailable("starting slurmctld/slurmd/munged for a test cluster needs root")
    ensure_installed()
    try:
        munge_user = pwd.getpwnam("munge")
    except KeyError:
        raise ClusterUnavailable("the munge package created no `munge` user") from None
    lock = open(LOCK_FILE, "w")  # noqa: SIM115 - held until Cluster.stop
    deadline = time.time() + lock_timeout
    while True:  # one test cluster at a time on this machine (ports, /etc/slurm/slurm.conf)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.time() > deadline:
                lock.close()
                raise ClusterUnavailable(
                    "another test SLURM cluster has held the lock too long"
                ) from None
            time.sleep(2)
    root = Path(tempfile.mkdtemp(prefix="hyctas-slurm-"))
    root.chmod(0o755)  # munged runs as `munge` and must reach its folder
    munge_dir = root / "munge"
    munge_dir.mkdir()
    munge_dir.chmod(0o755)  # munged wants its socket folder searchable by every client
    os.chown(munge_dir, munge_user.pw_uid, munge_user.pw_gid)
    munge_socket = munge_dir / "munge.sock"
    host = socket.gethostname().split(".")[0]
    cluster = Cluster(root, write_config(root, host, munge_socket), lock=lock)
    try:
        _link_config(cluster)
        _start(
            cluster,
            "munged",
            [
                _which("munged"),
                "-F",
                f"--socket={munge_socket}",
                "--key-file=/etc/munge/munge.key",
                f"--log-file={munge_dir / 'munged.log'}",
                f"--pid-file={munge_dir / 'munged.pid'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
            ],
            user=munge_user,
        )
        _wait("the munge socket", munge_socket.exists, cluster, 20)
        _start(cluster, "slurmctld", [_which("slurmctld"), "-D", "-c", "-f", str(cluster.conf)])
        _start(cluster, "slurmd", [_which("slurmd"), "-D", "-N", host, "-f", str(cluster.conf)])

        def idle() -> bool:
            state = cluster.command(_which("sinfo"), "-h", "-o", "%T").stdout.strip()
            return state in ("idle", "mixed")

        _wait("the node to become idle", idle, cluster, ready_timeout)
    except BaseException as exc:
        logs = "\n".join(
            f"--- {n}\n{cluster.log(n)[-1500:]}"
            for n in ("slurmctld.log", "slurmd.log", "munged.out", "slurmctld.out", "slurmd.out")
        )
        cluster.stop()
        if isinstance(exc, ClusterUnavailable):
            raise ClusterUnavailable(f"{exc}\n{logs}") from None
        raise
    return cluster
