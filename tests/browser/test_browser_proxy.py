"""The README's nginx set-up, run: Debian's nginx on loopback with a self-signed certificate
in front of two `attviz serve` backends (sticky by the sign-in cookie, websocket upgrade),
signed in through in Chromium; the cookie is Secure, a page and its websocket reach one
backend, and both backends serve sessions."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import Page
from tests.helpers.lab import USERS, LabServer, make_lab
from tests.helpers.paths import require_binary
from tests.helpers.proxy import NGINX, Nginx
from tests.helpers.served import free_port
from tests.helpers.wsclient import Session, sign_in


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, tiny_store):
    require_binary(NGINX, "apt-get install nginx (scripts/system-deps.sh)")
    require_binary("/usr/bin/openssl", "apt-get install openssl (scripts/system-deps.sh)")
    folder = tmp_path_factory.mktemp("proxied")
    files = make_lab(folder, tiny_store)
    port = free_port()
    options = ("--use-xheaders", "--allow-websocket-origin", f"127.0.0.1:{port}")
    backends = []
    try:
        backends += [LabServer(*files, *options), LabServer(*files, *options)]
        nginx = Nginx(Path(folder), (backends[0].port, backends[1].port), port)
    except BaseException:
        for b in backends:
            b.stop()
        raise
    yield nginx, backends
    nginx.stop()
    for b in backends:
        b.stop()


def backend_of(nginx: Nginx, request: str, cookie: str) -> set[str]:
    """The backends that answered ``request`` (e.g. "GET /apps/ws") sent with ``cookie``."""
    return {up for head, status, up, c in nginx.served()
            if head.startswith(request + " ") and c == cookie and status in ("200", "101")}


def test_the_readme_proxy_in_front_of_two_backends(browser, proxied):
    nginx, backends = proxied
    base = f"https://127.0.0.1:{nginx.port}"
    page = Page(browser, base + "/apps", ignore_https_errors=True)
    page.page.wait_for_url("**/login?next=*", timeout=30000)
    page.page.fill("#username", "alice")
    page.page.fill("#password", USERS["alice"][1])
    page.page.click("button[type=submit]")
    page.wait_ready()
    assert page.page.url.startswith(base + "/apps")
    cookie = next(c for c in page.page.context.cookies() if c["name"] == "user")
    assert cookie["secure"] and cookie["httpOnly"]
    first = page.text_of(".av-instance")
    shown = [first]
    for _ in range(3):  # step through instances: the websocket works through the proxy
        page.page.get_by_role("button", name="next ›").click()
        expect(page.page.locator(".av-instance").first).not_to_have_text(shown[-1],
                                                                          timeout=30000)
        shown.append(page.text_of(".av-instance"))
    assert len(set(shown)) == 4, shown
    assert page.errors() == []
    page.close()
    # the page and its websocket went to one backend
    value = cookie["value"]
    chromium = backend_of(nginx, "GET /apps", value) | backend_of(nginx, "GET /apps/ws", value)
    assert len(chromium) == 1, nginx.served()

    async def sessions_elsewhere() -> set[str]:
        """Sign-ins (each its own cookie) until one lands on the other backend, which then
        serves its session; the backends that served them."""
        seen = set(chromium)
        for _ in range(40):
            cookie = await sign_in(base, "alice", USERS["alice"][1])
            s = Session(base, cookie=cookie)
            await s.open()
            assert s.text_with("av-instance")
            await s.close()
            value = cookie.split("user=", 1)[1].split(";")[0]
            used = backend_of(nginx, "GET /apps", value) | backend_of(nginx, "GET /apps/ws",
                                                                      value)
            assert len(used) == 1, used
            seen |= used
            if len(seen) == 2:
                break
        return seen

    with ThreadPoolExecutor(1) as pool:  # Playwright's own loop runs in this thread
        assert len(pool.submit(asyncio.run, sessions_elsewhere()).result()) == 2
    for b in backends:
        assert "WebSocket connection opened" in b.output()
