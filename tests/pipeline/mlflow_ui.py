"""The MLflow UI of a finished run in headless Chromium: page text and a screenshot.

(`tests.pipeline.browser` finds the browser and reads static pages; this module drives the
MLflow UI, a live single-page app whose table settings live in the browser's localStorage.)

`mlflow_server` starts `mlflow server` on loopback (one worker, no job runners: two processes)
over a store; `Chromium` drives a headless Chromium through its DevTools protocol on a pipe
(`--remote-debugging-pipe`: no extra Python package, no open port); `runs_table` opens an
experiment's runs page with the columns to read (target, arch_id, miou, latency_ms, models),
sorted by mIoU, and returns the page's text after the runs have rendered; `page_text` does
the same for any other page (the registered models).

The README's screenshot of the runs table was made from a tiny run's store with:

    .venv/bin/python -m tests.pipeline.mlflow_ui --store sqlite:///RUN/mlflow.db \
        --experiment hyctas --out docs/mlflow-runs.png
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.pipeline.browser import INSTALL_HINT, find_chromium

SERVER_START_S = 180  # `mlflow server` answered after 8 s idle, 40 s on a loaded 2-core box
REPLY_S = 120  # the longest wait for one DevTools reply: a hung browser fails, naming the call
CLOSE_S = 10  # for the browser to exit after Browser.close, then after SIGTERM
RUN_COLUMNS = ["tags.`target`", "tags.`arch_id`", "metrics.`miou`", "metrics.`latency_ms`"]
COLUMN_WIDTHS = dict(zip(RUN_COLUMNS, (170, 130, 110, 110), strict=True))  # pixels: no "..."
# Where MLflow 3.17's UI keeps an experiment page's settings (a later UI that moves them makes
# `runs_table` time out, naming this key).
UI_STATE_KEY = 'MLflowLocalStorage-1.1-ExperimentPage-["{}"]-ReactComponentState'
SIZE = (1600, 900)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(store_uri: str, log: Path) -> Iterator[str]:
    """`mlflow server` over `store_uri` on a free loopback port; yields its base URL.

    One uvicorn worker and no job runners (`MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`): two
    processes instead of about seven. It runs in `log`'s folder, so its default artifact root
    (`./mlartifacts`) is made there, not in the repository. Stopped (its process group) on exit.
    """
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", store_uri, "--workers", "1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                    if reply.status == 200:
                        break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(30)


class Chromium:
    """A headless Chromium page driven through the DevTools protocol over a pipe.

    Chromium reads commands on fd 3 and writes replies and events on fd 4, each a JSON
    message ended by a NUL byte. One page is opened and attached; `call` sends a command to
    it and returns the reply's result (events in between are skipped). Chromium runs in a
    process group of its own (with its renderer and GPU processes), which `close` stops.
    """

    def __init__(self, binary: str, size: tuple[int, int] = SIZE) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="chromium-")
        self.proc: subprocess.Popen | None = None
        self._fds: list[int] = []  # open pipe ends, closed by `close`
        self._buffer = b""
        self._last_id = 0
        self._session: str | None = None
        try:  # a browser that fails to start or attach is stopped and its profile removed
            self._start(binary, size)
        except BaseException:
            self.close()
            raise

    def _start(self, binary: str, size: tuple[int, int]) -> None:
        to_browser, self._commands = os.pipe()
        self._fds += [to_browser, self._commands]
        self._replies, from_browser = os.pipe()
        self._fds += [self._replies, from_browser]

        def as_fds_3_and_4() -> None:  # in the child: the pipe ends where Chromium looks
            read, write = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read, 3)
            os.dup2(write, 4)

        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        flags += ["--hide-scrollbars", "--remote-debugging-pipe", "--no-first-run"]
        flags += [f"--window-size={size[0]},{size[1]}", f"--user-data-dir={self.profile.name}"]
        self.proc = subprocess.Popen(
            [binary, *flags, "about:blank"],
            preexec_fn=as_fds_3_and_4,  # noqa: PLW1509 - only dup2 before exec
            pass_fds=(3, 4, to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for fd in (to_browser, from_browser):  # the child's ends: EOF once Chromium exits
            self._fds.remove(fd)
            os.close(fd)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        width, height = size
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip

    def _send(self, method: str, **params: Any) -> None:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command to the page (to the browser before one is attached).

        Raises:
            TimeoutError: No reply within `REPLY_S` seconds (naming `method`).
            RuntimeError: The command failed, or Chromium closed its pipe.
        """
        self._send(method, **params)
        deadline = time.monotonic() + REPLY_S
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                    raise TimeoutError(f"{method}: no reply from Chromium in {REPLY_S} s")
                chunk = os.read(self._replies, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"{method}: Chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 90) -> None:
        """Load `url` afresh (through about:blank, so a change of `#` route reloads the app)."""
        for target in ("about:blank", url):
            self.call("Page.navigate", url=target)
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(RuntimeError):  # the old document is going away
                    here = self.evaluate("location.href + ' ' + document.readyState")
                    if here == f"{target} complete":
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{target} did not load")
                time.sleep(0.2)

    def wait_for_text(self, needles: list[str], timeout: float = 90) -> str:
        """The page's visible text once it contains every one of `needles`.

        Raises:
            TimeoutError: with the text the page showed last.
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if all(n in text for n in needles):
                return text
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never showed {needles}; it showed:\n{text[:3000]}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> None:
        """Write the page's viewport as a PNG."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop the browser (Browser.close, not waiting for a reply; then SIGTERM and SIGKILL
        to its process group), close the pipes and remove the profile. Safe to call twice."""
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(OSError):  # a full pipe or a dead reader: signals next
                    os.set_blocking(self._commands, False)
                    self._session = None
                    self._send("Browser.close")
            for signum in (None, signal.SIGTERM, signal.SIGKILL):
                if signum is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signum)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(CLOSE_S)
                    break
            with contextlib.suppress(ProcessLookupError, PermissionError):  # outliving helpers
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc = None
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        self.profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runs_table(
    browser: Chromium, url: str, experiment_id: str, needles: list[str], attempts: int = 3
) -> str:
    """Open the experiment's runs table, stage runs sorted by mIoU with the columns to read.

    The UI keeps its table settings (columns, widths, sort, filter) in the browser's
    localStorage, and saves them again while it runs: the runs page is opened once (it saves
    its defaults), then a plain page of the same server (`/health`, where the UI does not run)
    edits them, then the runs page is opened again. On a loaded machine the reopened page has
    been seen to show its defaults (CI, stop 21: no filter, default columns), so a page that
    does not show `needles` and the chosen columns within a minute gets the whole sequence
    again (its saved settings removed first, so the wait for the page to save them means
    something), `attempts` times; each failed attempt is reported on stderr.

    Returns:
        The page's text once it shows every one of `needles` (e.g. run names).

    Raises:
        TimeoutError: the last attempt's, with the text the page showed.
    """
    page = f"{url}/#/experiments/{experiment_id}/runs"
    key = json.dumps(UI_STATE_KEY.format(experiment_id))
    shown = [*needles, *(c.split("`")[1] for c in RUN_COLUMNS)]  # the chosen columns' headers
    for attempt in range(1, attempts + 1):
        browser.open(page)
        deadline = time.monotonic() + 90
        while not browser.evaluate(f"localStorage.getItem({key}) !== null"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the runs page never saved its settings ({key})")
            time.sleep(0.5)
        browser.open(f"{url}/health")
        state = json.loads(browser.evaluate(f"localStorage.getItem({key})"))
        state.update(
            searchFilter="tags.`hyctas.kind` = 'stage'",
            orderByKey="metrics.`miou`",
            orderByAsc=False,
            selectedColumns=[*RUN_COLUMNS, "attributes.`Models`"],
            columnOrder=list(COLUMN_WIDTHS),  # widths apply to the columns listed here
            columnWidths=COLUMN_WIDTHS,
        )
        browser.evaluate(
            f"localStorage.setItem({key}, {json.dumps(json.dumps(state))});"
            "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false')"
        )
        browser.open(page)
        try:
            return browser.wait_for_text(shown, timeout=60 if attempt < attempts else 90)
        except TimeoutError as error:
            if attempt == attempts:
                raise
            print(f"runs_table attempt {attempt}: {str(error)[:500]}", file=sys.stderr)
            browser.open(f"{url}/health")
            browser.evaluate(f"localStorage.removeItem({key})")
    raise AssertionError("unreachable: attempts >= 1")


def page_text(browser: Chromium, url: str, needles: list[str]) -> str:
    """Open `url` and return its text once it shows every one of `needles`."""
    browser.open(url)
    return browser.wait_for_text(needles)


def main(argv: list[str] | None = None) -> None:
    """Screenshot an experiment's runs table (the README's docs/mlflow-runs.png)."""
    from mlflow.tracking import MlflowClient

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, help="tracking URI, e.g. sqlite:///mlflow.db")
    parser.add_argument("--experiment", required=True, help="experiment name")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args(argv)
    binary = find_chromium()
    if binary is None:
        sys.exit(INSTALL_HINT)
    experiment = MlflowClient(args.store).get_experiment_by_name(args.experiment)
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow_server(args.store, Path(tmp) / "server.log") as url,
        Chromium(binary) as browser,
    ):
        runs_table(browser, url, experiment.experiment_id, ["evaluate["])
        time.sleep(2)  # let the last cells and icons paint
        browser.screenshot(args.out)
    print(f"{args.out}: runs table of {args.experiment} at {SIZE[0]}x{SIZE[1]}")


if __name__ == "__main__":
    main()
