"""A lab server attacked with a browser (headless Chromium): a page elsewhere that signs the
browser in as someone else or signs it out, a sign-in link that would send it elsewhere, and
a password with spaces around it typed into the form."""

from __future__ import annotations

import pytest

from tests.helpers.lab import USERS, LabServer, make_lab
from tests.helpers.processes import attviz

EVIL = "http://evil.example"


@pytest.fixture(scope="module")
def lab(tmp_path_factory, tiny_store):
    server = LabServer(*make_lab(tmp_path_factory.mktemp("lab"), tiny_store))
    yield server
    server.stop()


class Victim:
    """A browser (its own cookies) that also visits pages of evil.example, served by the
    test (Playwright answers for that site; nothing leaves the machine)."""

    def __init__(self, browser, lab) -> None:
        self.lab, self.visited = lab, []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.route(f"{EVIL}/**", self._evil)
        self.evil_pages: dict[str, str] = {}
        self.page = self.context.new_page()

    def _evil(self, route) -> None:
        path = route.request.url[len(EVIL):] or "/"
        self.visited.append(path)
        route.fulfill(status=200, content_type="text/html",
                      body=self.evil_pages.get(path.split("?")[0], "<p>evil</p>"))

    def sign_in(self, name: str, password: str | None = None, query: str = "") -> None:
        self.page.goto(self.lab.base + "/login" + query)
        self.page.fill("#username", name)
        self.page.fill("#password", password if password is not None else USERS[name][1])
        self.page.click("button[type=submit]")

    def signed_in_as(self) -> str | None:
        """Who the app says is signed in (None: it sends the browser to sign in)."""
        self.page.goto(self.lab.url)
        self.page.wait_for_url(lambda url: "/login" in url or "/apps" in url, timeout=30000)
        if "/login" in self.page.url:
            return None
        name = self.page.locator(".av-user-name")
        name.wait_for(timeout=60000)
        return name.inner_text()

    def close(self) -> None:
        self.context.close()


def test_a_page_elsewhere_cannot_sign_the_browser_in_as_someone_else(browser, lab):
    victim = Victim(browser, lab)
    victim.evil_pages["/"] = f"""<form id="f" method="post" action="{lab.base}/login">
      <input name="username" value="bob"><input name="password" value="{USERS['bob'][1]}">
      <input name="next" value="/apps"><input name="form_token" value="guessed">
      </form><script>document.getElementById('f').submit()</script>"""
    victim.page.goto(lab.base + "/login")  # the victim has the form's cookie already
    victim.page.goto(EVIL + "/")
    victim.page.wait_for_url(f"{lab.base}/login", timeout=30000)
    assert victim.signed_in_as() is None
    assert "refused a /login post from another site" in lab.output()
    victim.close()


def test_a_link_elsewhere_does_not_sign_the_browser_out(browser, lab):
    victim = Victim(browser, lab)
    victim.sign_in("alice")
    victim.page.wait_for_url(f"{lab.base}/apps*", timeout=30000)
    victim.evil_pages["/"] = (f'<a id="out" href="{lab.base}/logout">win a prize</a>'
                              f'<form id="f" method="post" action="{lab.base}/logout">'
                              '<input name="token" value="guessed"></form>')
    victim.page.goto(EVIL + "/")
    victim.page.click("#out")  # a top-level link: the cookie goes with it
    victim.page.wait_for_url(f"{lab.base}/logout", timeout=30000)
    assert victim.page.locator("button.av-signout").count() == 1  # a button, not a sign-out
    victim.page.goto(EVIL + "/")
    victim.page.evaluate("document.getElementById('f').submit()")
    victim.page.wait_for_url(f"{lab.base}/logout", timeout=30000)
    assert victim.signed_in_as() == "alice"
    # the page's own sign-out button signs out
    victim.page.locator(".av-logout").click()
    victim.page.wait_for_url("**/login?signed_out=1", timeout=30000)
    assert victim.signed_in_as() is None
    victim.close()


def test_sign_in_never_sends_the_browser_elsewhere(browser, lab):
    victim = Victim(browser, lab)
    for next_url in ("/%09/evil.example", "/%0A/evil.example", "%2F%5Cevil.example",
                     "//evil.example"):
        victim.sign_in("alice", query=f"?next={next_url}")
        victim.page.wait_for_url(lambda url: not url.startswith(f"{lab.base}/login"),
                                 timeout=30000)
        assert victim.page.url.startswith(lab.base + "/"), (next_url, victim.page.url)
    assert victim.visited == []
    victim.close()


def test_a_password_with_spaces_around_signs_in_as_typed(browser, lab):
    r = attviz("users", "add", "gil", "--users", str(lab.users), "--group", "nlp",
               stdin="  gils passphrase  \n")
    assert r.returncode == 0, r.stderr
    victim = Victim(browser, lab)
    victim.sign_in("gil", "gils passphrase")
    victim.page.wait_for_selector(".av-notice.bad", timeout=30000)
    victim.sign_in("gil", "  gils passphrase  ")
    assert victim.signed_in_as() == "gil"
    victim.close()
