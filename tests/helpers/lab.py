"""A lab server for tests and benchmarks: a store root with group folders, a users file, an
access file, and `attviz serve` running in a subprocess on a free loopback port."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from attviz.lab.users import Users

from .paths import ROOT
from .served import free_port, stop_process
from .wsclient import sign_in

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
        self.root, self.users, self.access = root, users, access
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/apps"
        cmd = [sys.executable, "-m", "attviz.cli", "serve", "--root", str(root), "--users",
               str(users), "--access", str(access), "--port", str(self.port),
               "--num-procs", str(num_procs), *extra]
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"attviz-lab-{self.port}.log"
        self.log = open(self.log_path, "w+")
        full_env = dict(os.environ, ATTVIZ_COOKIE_SECRET=SECRET, PYTHONPATH=str(ROOT))
        full_env.update(env or {})
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


# links a user of group nlp could make in their folder bbc/: name -> (target, allowed)
LINKS = {
    "bbc/alias.h5": ("news.h5", True),                       # inside their own folder: fine
    "bbc/other-group.h5": ("../tweets/tweets.h5", False),    # a file link to another group
    "bbc/outside.h5": ("{outside}", False),                  # a file link out of the root
    "bbc/shards/shard-00000-of-00002.h5": ("../news.h5", None),   # a folder of shards, one
    "bbc/shards/shard-00001-of-00002.h5": ("../../tweets/tweets.h5", None),  # of them linked
    "bbc/only-link/store.h5": ("../../tweets/tweets.h5", None),   # a folder holding a link
    "bbc/linked-folder": ("../tweets", None),                # a link to another group's folder
}
# what they name in the picker or the URL, and whether it may open
LINKED_STORES = {"bbc/alias.h5": True, "bbc/other-group.h5": False, "bbc/outside.h5": False,
                 "bbc/shards": False, "bbc/only-link": False,
                 "bbc/linked-folder/tweets.h5": False, "bbc/linked-folder": False}


def make_links(root: Path, outside: Path) -> None:
    """The symbolic links of LINKS under ``root`` (made by a member of group nlp), with
    ``outside`` a store out of the root."""
    for rel, (target, _) in LINKS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target.format(outside=outside))


# -- HTTP, as a browser or a stranger speaks it ----------------------------------------------
def request(server: LabServer, method: str, path: str, body: dict | str | bytes | None = None,
            cookie: str = "", headers: dict | None = None) -> http.client.HTTPResponse:
    """One request on a new connection; the response with its text in ``.text``."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sent = dict(headers or {})
    if cookie:
        sent["Cookie"] = cookie
    data = body
    if isinstance(body, dict):
        data = urllib.parse.urlencode(body)
    if body is not None:
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=data, headers=sent)
    resp = conn.getresponse()
    resp.text = resp.read().decode("utf-8", "replace")
    conn.close()
    return resp


def cookies_set(resp) -> dict[str, str]:
    """name -> the whole Set-Cookie line, of the cookies a response sets."""
    return {c.split("=", 1)[0]: c for c in resp.headers.get_all("Set-Cookie") or []}


def goes_to_login(resp, path: str) -> bool:
    if resp.status != 302:
        return False
    target = urllib.parse.urljoin(f"http://x{path}", resp.getheader("Location"))
    return urllib.parse.urlsplit(target).path == "/login"


def login_form(server: LabServer, headers: dict | None = None) -> tuple[str, str]:
    """(the sign-in form's token, the Cookie header its page set)."""
    page = request(server, "GET", "/login", headers=headers)
    found = re.search(r'name="form_token" value="([^"]*)"', page.text)
    token = found.group(1) if found else ""
    cookie = "; ".join(c.split(";", 1)[0] for c in cookies_set(page).values())
    return token, cookie


def post_login(server: LabServer, name: str, password: str, next_url: str = "/apps",
               headers: dict | None = None) -> http.client.HTTPResponse:
    """A sign-in through the form, as a browser of this server posts it."""
    token, cookie = login_form(server, headers)
    return request(server, "POST", "/login", {"username": name, "password": password,
                                              "next": next_url, "form_token": token},
                   cookie=cookie, headers=headers)


def signed_in(server: LabServer, name: str, password: str | None = None) -> str:
    """The Cookie header of ``name`` signed in (password: USERS' unless given)."""
    return asyncio.run(sign_in(server.base, name, password or USERS[name][1]))
