"""The explorer served by `panel serve apps/` in a subprocess, on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .paths import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_here(app: Callable) -> Iterator[str]:
    """``app`` (a function making a page) served by Panel at /apps in a thread of this
    process, so that a test can watch its sessions' objects; a session is cleaned up 200 ms
    after its client left. Yields the base URL (wait for it with ``wsclient.server_up``);
    the server stops at the end."""
    import panel as pn

    port = free_port()
    server = pn.serve({"apps": app}, port=port, address="127.0.0.1", threaded=True,
                      show=False, websocket_origin=[f"127.0.0.1:{port}"],
                      check_unused_sessions_milliseconds=200,
                      unused_session_lifetime_milliseconds=200)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate ``proc`` (kill it when it does not end within ``timeout`` s) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """`panel serve apps/` in a subprocess, stopped at the end."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/apps"
        cmd = [str(Path(sys.executable).parent / "panel"), "serve", str(ROOT / "apps"),
               "--port", str(self.port), "--address", "127.0.0.1",
               "--allow-websocket-origin", f"127.0.0.1:{self.port}", "--args", *args]
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"attviz-serve-{self.port}.log",
                        "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        self.log.seek(0)
        raise RuntimeError("panel serve did not start:\n" + self.log.read()[-3000:])

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()
