"""A lab server (`attviz serve`) in headless Chromium: sign-in and sign-out, a store of
another group refused, and a user name full of HTML shown as text."""

from __future__ import annotations

import pytest

from tests.helpers.browser import Page
from tests.helpers.lab import STORES, USERS, XSS_USER, LabServer, make_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory, tiny_store):
    server = LabServer(*make_lab(tmp_path_factory.mktemp("lab"), tiny_store))
    yield server
    server.stop()


def sign_in(browser, lab, name: str, password: str | None = None, query: str = "") -> Page:  # noqa: F811
    """A new browser (its own cookies) that opens the app, is sent to the sign-in page and
    signs in there."""
    page = Page(browser, lab.url + query)
    page.page.wait_for_url("**/login?next=*", timeout=30000)
    page.page.fill("#username", name)
    page.page.fill("#password", password if password is not None else USERS[name][1])
    page.page.click("button[type=submit]")
    return page


def store_options(page: Page) -> list[str]:
    select = page.page.locator(".bk-panel-models-widgets-CustomSelect",
                               has_text="Store").locator("select")
    return select.evaluate("e => Array.from(e.options).map(o => o.text)")


def test_sign_in_shows_the_name_and_the_groups_stores_and_sign_out_ends_it(browser, lab):  # noqa: F811
    page = sign_in(browser, lab, "alice")
    page.wait_ready()
    assert page.page.url.startswith(lab.url)
    assert page.wait_text(".av-user", "signed in as alice")
    assert store_options(page) == [s for s, g in STORES.items() if g == "nlp"]
    page.page.locator(".av-logout").click()
    page.page.wait_for_url("**/login?signed_out=1", timeout=30000)
    assert "You are signed out." in page.page.locator(".av-notice").inner_text()
    page.page.goto(lab.url)  # signed out: the app sends the browser to sign in again
    page.page.wait_for_url("**/login?next=*", timeout=30000)
    assert page.errors() == []
    page.close()


def test_a_wrong_password_is_refused_with_one_message(browser, lab):  # noqa: F811
    page = sign_in(browser, lab, "alice", "not-her-password")
    page.page.wait_for_selector(".av-notice.bad", timeout=30000)
    assert page.page.locator(".av-notice").inner_text() == "Wrong user name or password."
    assert page.page.input_value("#username") == "alice"
    page.page.goto(lab.url)
    page.page.wait_for_url("**/login?next=*", timeout=30000)
    page.close()


def test_a_store_of_another_group_is_refused_and_its_group_sees_it(browser, lab):  # noqa: F811
    alice = sign_in(browser, lab, "alice", query="?store=tweets/tweets.h5")
    alice.page.wait_for_selector(".av-error", timeout=60000)
    message = alice.wait_text(".av-error", "refused")
    assert message.startswith("tweets/tweets.h5: not inside the store folder")
    assert store_options(alice) == [s for s, g in STORES.items() if g == "nlp"]
    bob = sign_in(browser, lab, "bob", query="?store=tweets/tweets.h5")
    bob.wait_ready()
    assert store_options(bob) == ["tweets/tweets.h5"]
    assert " of " in bob.text_of(".av-count")
    assert "refused store 'tweets/tweets.h5' to user 'alice'" in lab.output()
    for p in (alice, bob):
        assert p.errors() == []
        p.close()


def test_a_user_name_full_of_html_is_shown_as_text(browser, lab):  # noqa: F811
    wrong = sign_in(browser, lab, XSS_USER, "a-wrong-password")
    wrong.page.wait_for_selector(".av-notice.bad", timeout=30000)
    assert wrong.page.input_value("#username") == XSS_USER
    page = sign_in(browser, lab, XSS_USER)
    page.wait_ready()
    assert page.wait_text(".av-user-name", "quoted") == XSS_USER
    for p in (wrong, page):
        ran = p.page.evaluate("() => window.__xss === undefined ? null : window.__xss")
        assert ran is None, f"injected script {ran} ran"
        assert p.page.locator("img[src=x], .av-user b b").count() == 0
        assert p.dialogs == []
        p.close()
    # the refused sign-in answers 401, which Chromium reports; nothing else went wrong
    assert [m for _, m in wrong.errors() if "status of 401" not in m] == []
    assert page.errors() == []
