"""A lab server as a stranger meets it, at the HTTP level: every route the server registers
(read from its Tornado application) answered without importing or computing anything,
bounded state and short log lines for failed sign-ins, slow clients cut off, and cookies
marked Secure behind a TLS proxy."""

from __future__ import annotations

import re
import socket
import time
import urllib.parse

import psutil
import pytest

from tests.helpers import probing
from tests.helpers.lab import LabServer, cookies_set, goes_to_login, make_lab, post_login, request
from tests.helpers.wsclient import Refused, Session

TIMEOUT_S = 2  # the server's --idle-timeout and --body-timeout here
PUBLIC = {"/static/", "/favicon.ico"}  # package files (Bokeh's JavaScript, the icon)
# what a stranger puts where a route takes a path: modules to import, escapes from folders
SUFFIXES = ["this/Zen/__css__/x.css", "antigravity/x/__css__/x", "torch/nn/_css/a.css",
            "../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "panel/theme/__css__/x"]


@pytest.fixture(scope="module")
def hard(tmp_path_factory, tiny_store):
    """`attviz serve` behind a (pretend) TLS proxy, with short timeouts, reporting its routes
    and modules."""
    folder = tmp_path_factory.mktemp("hard")
    probe = folder / "probe"
    probe.mkdir()
    server = LabServer(*make_lab(folder, tiny_store), "--use-xheaders", "--idle-timeout",
                       str(TIMEOUT_S), "--body-timeout", str(TIMEOUT_S), env=probing.env(probe))
    server.probe = probe
    yield server
    server.stop()


def paths_of(pattern: str) -> list[str]:
    """Concrete paths for a route pattern (Tornado's regex, ``$`` at the end)."""
    base = pattern.rstrip("$").replace("/?", "/")
    if "(.*)" not in base:
        return [base]
    return [base.replace("(.*)", s, 1) for s in SUFFIXES]


def answer_ok(path: str, resp) -> bool:
    """Sign-in page or redirect, 403, 404 or 405; a public static file; the sign-in form."""
    if goes_to_login(resp, path) or resp.status in (403, 404, 405):
        return True
    if resp.status == 302:  # Panel sends /apps/ to ./login, i.e. /apps/login (then a 404)
        target = urllib.parse.urlsplit(resp.getheader("Location") or "")
        return not target.netloc and target.path.rsplit("/", 1)[-1] == "login"
    if path.split("?")[0] in ("/login", "/logout"):
        return resp.status in (200, 302)
    return resp.status == 200 and any(path.startswith(p) for p in PUBLIC) and "Zen" not in resp.text


def test_every_route_answers_a_stranger_without_importing_or_computing(hard):
    pid = hard.proc.pid
    routes = probing.routes(hard.probe, pid)
    assert len(routes) >= 12, routes
    assert request(hard, "GET", "/login").status == 200  # warm
    before, rss = probing.modules(hard.probe, pid), psutil.Process(pid).memory_info().rss
    answers = []
    for pattern, handler in routes:
        for path in paths_of(pattern):
            for method in ("GET", "POST", "HEAD"):
                resp = request(hard, method, path, body="x=1" if method == "POST" else None)
                answers.append((method, path, handler, resp.status))
                assert answer_ok(path, resp), answers[-1]
    # the websocket of the app, without a cookie
    s = Session(hard.base)
    with pytest.raises(Refused, match="403"):
        import asyncio
        asyncio.run(s.connect("not-a-token"))
    after = probing.modules(hard.probe, pid)
    grown = psutil.Process(pid).memory_info().rss - rss
    assert after - before == set(), sorted(after - before)
    assert "this" not in after and "torch" not in after and "antigravity" not in after
    assert "Beautiful is better than ugly" not in hard.output()
    assert grown < 20 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"
    print(f"{len(routes)} routes, {len(answers)} requests; RSS {grown / 2**20:+.1f} MiB")


def test_failed_sign_ins_keep_little_state_and_short_log_lines(hard):
    pid = hard.proc.pid
    rss, log_size = psutil.Process(pid).memory_info().rss, len(hard.output())
    huge = "n" * 2**20
    for i in range(60):  # 1 MiB names: refused before the form is read
        try:
            status = request(hard, "POST", "/login", {"username": huge + str(i),
                                                      "password": "pw-x", "next": "/apps"},
                             headers={"X-Forwarded-For": f"10.1.0.{i}"}).status
        except ConnectionError:  # the server answered 400 and closed while we were sending
            status = 400
        assert status in (400, 413), status
    secret = "typed-password-never-logged"
    for i in range(60):  # names that fit a form, but no user's
        resp = post_login(hard, f"{i}" + "\u202e<b>\n" * 300, secret,
                          headers={"X-Forwarded-For": f"10.2.0.{i}"})
        assert resp.status == 401, resp.status
    grown = psutil.Process(pid).memory_info().rss - rss
    logged = hard.output()[log_size:]
    assert grown < 10 * 2**20, f"the server grew by {grown / 2**20:.1f} MiB"
    assert len(logged) < 60 * 400, f"the log grew by {len(logged):,} characters"
    assert secret not in logged and huge[:1000] not in logged
    lines = [line for line in logged.splitlines() if "failed sign-in" in line]
    assert len(lines) == 60 and all(len(line) < 250 for line in lines), lines[:2]
    assert "\\u202e<b>\\n" in lines[0]  # escaped: no line breaks or direction marks in the log
    print(f"120 refused sign-ins: RSS {grown / 2**20:+.1f} MiB, log +{len(logged):,} characters")


def test_long_addresses_leave_short_log_lines(hard):
    size = len(hard.output())
    for i in range(50):  # 60 KiB addresses, nearly the most a request line may hold
        path = f"/static/{i}" + "a" * 60_000
        assert request(hard, "GET", path).status in (403, 404)
        assert request(hard, "GET", "/components/" + path).status == 403
    grown = len(hard.output()) - size
    assert grown < 100 * 800, f"the log grew by {grown:,} characters"
    print(f"100 requests of 60 KiB addresses: log +{grown:,} characters")


def test_slow_clients_are_cut_off(hard):
    sockets = []
    for i in range(100):  # half a request line and headers
        s = socket.create_connection(("127.0.0.1", hard.port))
        s.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + str(i).encode())
        sockets.append(s)
    for _ in range(10):  # whole headers, half a body
        s = socket.create_connection(("127.0.0.1", hard.port))
        s.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=al")
        sockets.append(s)
    start = time.monotonic()
    assert request(hard, "GET", "/login").status == 200  # the server keeps serving
    open_ = list(sockets)
    while open_ and time.monotonic() - start < TIMEOUT_S + 6:
        for s in list(open_):
            s.settimeout(0.05)
            try:
                if s.recv(4096) == b"":
                    open_.remove(s)
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                open_.remove(s)
    took = time.monotonic() - start
    for s in sockets:
        s.close()
    assert not open_, f"{len(open_)} of 110 slow connections still open after {took:.1f} s"
    print(f"110 slow connections closed within {took:.1f} s")


def test_cookies_are_secure_behind_a_tls_proxy_and_only_there(hard):
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.3.0.1"}
    for headers, secure in ((https, True), ({"X-Forwarded-For": "10.3.0.2"}, False)):
        form = cookies_set(request(hard, "GET", "/login", headers=headers))
        signed = post_login(hard, "alice", "alice-passphrase", headers=headers)
        assert goes_to_login(signed, "/login") is False and signed.status == 302
        cookie = cookies_set(signed)["user"]
        for line in [*form.values(), cookie]:
            assert bool(re.search(r";\s*Secure", line, re.I)) == secure, line
            assert re.search(r";\s*HttpOnly", line, re.I), line
