"""A lab server for tests and benchmarks: a store root with group folders, a users file, an
access file, and `attviz serve` running in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from attviz.lab.users import Users

from .paths import ROOT
from .served import free_port, stop_process

SECRET = "test-cookie-secret-0123456789abcdef"
ACCESS = '[groups]\nnlp = ["bbc", "shared"]\nhate = ["tweets"]\n'
XSS_USER = '<img src=x onerror="window.__xss=5">"quoted" & <b>bold</b>'
USERS = {  # name -> (groups, password)
    "alice": (["nlp"], "alice-passphrase"),
    "bob": (["hate"], "bob-passphrase"),
    XSS_USER: (["nlp"], "xss-passphrase"),
}
STORES = {"bbc/news.h5": "nlp", "shared/common.h5": "nlp", "tweets/tweets.h5": "hate"}


def make_lab(folder: Path, store: Path) -> tuple[Path, Path, Path]:
    """A store root under ``folder`` (copies of ``store`` in the group folders), its users file
    and access file."""
    root = folder / "stores"
    for rel in STORES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(store, root / rel)
    users = Users()
    for name, (groups, password) in USERS.items():
        users.add(name, groups, password)
    users.save(folder / "users.json")
    (folder / "access.toml").write_text(ACCESS)
    return root, folder / "users.json", folder / "access.toml"


class LabServer:
    """`attviz serve` in a subprocess (stopped by ``stop``); its output in ``log_path``."""

    def __init__(self, root: Path, users: Path, access: Path, *extra: str,
                 num_procs: int = 1, env: dict | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/apps"
        cmd = [sys.executable, "-m", "attviz.cli", "serve", "--root", str(root), "--users",
               str(users), "--access", str(access), "--port", str(self.port),
               "--num-procs", str(num_procs), *extra]
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"attviz-lab-{self.port}.log"
        self.log = open(self.log_path, "w+")
        full_env = dict(os.environ, ATTVIZ_COOKIE_SECRET=SECRET, PYTHONPATH=str(ROOT),
                        **(env or {}))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/static/js/bokeh.min.js", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("attviz serve did not start:\n" + self.output()[-3000:])

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()
