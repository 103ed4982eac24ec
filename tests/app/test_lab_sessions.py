"""A lab server's sign-ins and sessions as an attacker tries them, at the protocol level:
cookies revoked by sign-out, a new password or removal (and their open sessions closed), a
session only for the user it was made for, no cookie in the page, posts only from the
server's own forms, passwords as typed, redirects only to this server."""

from __future__ import annotations

import asyncio
import html
import re
import time
import urllib.parse

from bokeh.util.token import get_token_payload

from attviz.lab.users import Users
from tests.helpers.lab import USERS, goes_to_login, login_form, post_login, request, signed_in
from tests.helpers.processes import attviz
from tests.helpers.wsclient import TOKEN_RE, Refused, Session

SIGN_OUT_RE = re.compile(r'name="token" value="([^"]+)"')


def change_users(path, change) -> None:
    known = Users.load(path)
    change(known)
    known.save(path)


def allowed(lab, cookie: str) -> bool:
    resp = request(lab, "GET", "/apps", cookie=cookie)
    assert resp.status == 200 or goes_to_login(resp, "/apps"), resp.status
    return resp.status == 200


async def closed_within(session: Session, seconds: float) -> float:
    """Seconds until the server closed ``session``'s websocket (fail after ``seconds``)."""
    start = time.monotonic()
    while not session.closed:
        assert time.monotonic() - start < seconds, "the session is still open"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def test_sign_out_a_new_password_and_removal_revoke_cookies_and_close_sessions(lab, lab_files):
    users = lab_files[1]
    change_users(users, lambda u: u.add("dave", ["nlp"], "daves-passphrase"))
    waited = {}

    async def revoked_by(what: str, revoke) -> None:
        cookie = await asyncio.to_thread(signed_in, lab, "dave", "daves-passphrase")
        session = Session(lab.base, cookie=cookie)
        await session.open()
        header = html.unescape(session.text_with("av-logout") or "")  # the pane's HTML
        await asyncio.to_thread(revoke, cookie, header)
        waited[what] = await closed_within(session, 5)
        assert not await asyncio.to_thread(allowed, lab, cookie), what

    def sign_out(cookie: str, header: str) -> None:
        token = SIGN_OUT_RE.search(header).group(1)
        assert request(lab, "POST", "/logout", {"token": token}, cookie=cookie).status == 302

    def new_password(cookie: str, header: str) -> None:  # noqa: ARG001
        r = attviz("users", "add", "dave", "--users", str(users), "--group", "nlp",
                   "--update", stdin="daves-passphrase\n")  # even the same password
        assert r.returncode == 0, r.stderr

    def removed_and_added(cookie: str, header: str) -> None:  # noqa: ARG001
        change_users(users, lambda u: u.remove("dave"))
        change_users(users, lambda u: u.add("dave", ["nlp"], "daves-passphrase"))

    async def run():
        await revoked_by("sign-out", sign_out)
        await revoked_by("new password", new_password)
        await revoked_by("removed and added again", removed_and_added)

    asyncio.run(run())
    print("open sessions closed after", {k: f"{v:.1f} s" for k, v in waited.items()})


def test_a_session_is_only_for_the_user_it_was_made_for(lab):
    alice, bob = signed_in(lab, "alice"), signed_in(lab, "bob")
    bobs_page = request(lab, "GET", "/apps", cookie=bob)
    bobs_token = TOKEN_RE.search(bobs_page.text).group(1)
    bobs_id = get_token_payload(bobs_token) and bobs_token  # a token names the session

    async def ws(cookie: str, token: str) -> str:
        s = Session(lab.base, cookie=cookie)
        try:
            await s.connect(token)
        except Refused as e:
            return str(e)
        finally:
            await s.close()
        return "joined"

    assert asyncio.run(ws(alice, bobs_id)).startswith("websocket refused: HTTP 403")
    assert asyncio.run(ws(bob, bobs_id)) == "joined"
    from bokeh.util.token import get_session_id

    session_id = get_session_id(bobs_token)
    for query in (f"?bokeh-session-id={session_id}", f"?bokeh-token={bobs_token}"):
        assert request(lab, "GET", f"/apps{query}", cookie=alice).status == 403, query
    assert request(lab, "GET", "/apps", cookie=alice,
                   headers={"Bokeh-Session-Id": session_id}).status == 403
    assert "refused session of another user to 'alice'" in lab.output()


def test_the_page_carries_no_cookie(lab):
    cookie = signed_in(lab, "alice")
    page = request(lab, "GET", "/apps", cookie=cookie + "; other=visible-elsewhere")
    payload = get_token_payload(TOKEN_RE.search(page.text).group(1))
    value = cookie.split("user=", 1)[1].split(";")[0]
    assert payload["cookies"] == {} and "Cookie" not in payload["headers"]
    assert value not in page.text and value.strip('"') not in page.text
    assert "visible-elsewhere" not in page.text


def test_sign_in_and_out_only_through_this_servers_forms(lab):
    name, password = "alice", USERS["alice"][1]
    token, cookie = login_form(lab)
    form = {"username": name, "password": password, "next": "/apps", "form_token": token}
    without_token = dict(form, form_token="")
    assert request(lab, "POST", "/login", without_token, cookie=cookie).status == 403
    assert request(lab, "POST", "/login", form).status == 403  # the token without its cookie
    elsewhere = {"Origin": "http://evil.example"}
    assert request(lab, "POST", "/login", form, cookie=cookie, headers=elsewhere).status == 403
    assert request(lab, "POST", "/login", form, cookie=cookie,
                   headers={"Referer": "http://evil.example/page"}).status == 403
    ok = request(lab, "POST", "/login", form, cookie=cookie,
                 headers={"Origin": lab.base, "Referer": lab.base + "/login"})
    assert ok.status == 302
    user = signed_in(lab, name)
    # a link (GET) signs nobody out: it shows a button; a post needs the user's token
    page = request(lab, "GET", "/logout", cookie=user)
    assert page.status == 200 and allowed(lab, user)
    token = SIGN_OUT_RE.search(page.text).group(1)
    assert request(lab, "POST", "/logout", {"token": "0" * 64}, cookie=user).status == 403
    assert request(lab, "POST", "/logout", {"token": token}, cookie=user,
                   headers=elsewhere).status == 403
    assert allowed(lab, user)
    assert request(lab, "POST", "/logout", {"token": token}, cookie=user).status == 302
    assert not allowed(lab, user)


def test_passwords_are_kept_as_typed_and_names_are_plain(lab, lab_files):
    users = lab_files[1]
    spaced = "  spaces around  "
    r = attviz("users", "add", "erin", "--users", str(users), "--group", "nlp",
               stdin=spaced + "\n")
    assert r.returncode == 0, r.stderr
    assert post_login(lab, "erin", spaced.strip()).status == 401
    assert post_login(lab, " erin", spaced).status == 401
    assert post_login(lab, "erin", spaced).status == 302
    for bad in (" frank", "frank ", "fr\tank", "frank\u202e", "\u200bfrank", "frank\x85"):
        r = attviz("users", "add", bad, "--users", str(users), "--group", "nlp",
                   stdin="long-enough-pw\n")
        assert r.returncode == 2 and "user name" in r.stderr, (bad, r.stderr)
    assert "frank" not in " ".join(Users.load(users).users)


def test_sign_in_sends_the_browser_only_to_this_server(lab):
    evil = ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example",
            "\\/evil.example", "https://evil.example", "/%09/evil.example x", "/ /evil.example",
            "http:/evil.example", "/\u3000/evil.example", "javascript:alert(1)", ""]
    for i, next_url in enumerate(evil):
        resp = post_login(lab, "alice", USERS["alice"][1], next_url,
                          headers={"X-Forwarded-For": f"10.9.0.{i}"})
        assert resp.status == 302 and resp.getheader("Location") == "/", (next_url,
                                                                         resp.getheader("Location"))
        page = request(lab, "GET", "/login?next=" + urllib.parse.quote(next_url, safe=""))
        assert 'name="next" value="/"' in page.text, next_url
    fine = post_login(lab, "alice", USERS["alice"][1], "/apps?store=bbc/news.h5&instance=3")
    assert fine.getheader("Location") == "/apps?store=bbc/news.h5&instance=3"
