"""Sign-in through an OAuth provider (Panel's generic provider) against a stand-in provider
on loopback, with the same group rules: groups from the provider's user info, else from the
users file by e-mail address."""

from __future__ import annotations

import asyncio
import http.cookiejar
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from attviz.lab.users import Users
from tests.helpers.lab import STORES, LabServer, make_lab
from tests.helpers.served import free_port
from tests.helpers.wsclient import Session

CLIENT_ID, CLIENT_SECRET = "attviz-lab", "stand-in-client-secret"
IDENTITIES = {
    "dana@lab.org": {"email": "dana@lab.org", "name": "Dana", "groups": ["hate"]},
    "erin@lab.org": {"email": "erin@lab.org", "name": "Erin"},  # groups from the users file
    "frank@lab.org": {"email": "frank@lab.org", "name": "Frank"},  # in no group
}


class Provider:
    """authorize, token and userinfo endpoints of an OAuth 2 provider, on loopback, in a
    thread; ``who`` is the identity the next authorization signs in."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.who = ""
        self.codes: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        provider = self

        class Authorize(tornado.web.RequestHandler):
            def get(self):
                assert self.get_argument("client_id") == CLIENT_ID
                code = secrets.token_urlsafe(8)
                provider.codes[code] = provider.who
                query = urllib.parse.urlencode({"code": code, "state": self.get_argument("state")})
                self.redirect(f"{self.get_argument('redirect_uri')}?{query}")

        class Token(tornado.web.RequestHandler):
            def post(self):
                if (self.get_body_argument("client_secret") != CLIENT_SECRET
                        or self.get_body_argument("code") not in provider.codes):
                    self.set_status(401)
                    self.write({"error": "invalid_grant"})
                    return
                token = secrets.token_urlsafe(8)
                provider.tokens[token] = provider.codes.pop(self.get_body_argument("code"))
                self.write({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

        class UserInfo(tornado.web.RequestHandler):
            def get(self):
                token = self.request.headers.get("Authorization", "").removeprefix("Bearer ")
                if token not in provider.tokens:
                    self.set_status(401)
                    return
                self.write(IDENTITIES[provider.tokens[token]])

        ready = threading.Event()

        def run():
            self.loop = IOLoop()
            self.loop.make_current()
            app = tornado.web.Application([("/authorize", Authorize), ("/token", Token),
                                           ("/userinfo", UserInfo)])
            self.server = HTTPServer(app)
            self.server.listen(self.port, "127.0.0.1")
            ready.set()
            self.loop.start()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        self.loop.add_callback(self.server.stop)
        self.loop.add_callback(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def oauth_lab(tmp_path_factory, tiny_store):
    folder = tmp_path_factory.mktemp("oauth")
    root, users, access = make_lab(folder, tiny_store)
    known = Users.load(users)
    known.add("erin@lab.org", ["nlp"], None)  # OAuth only: no password
    known.save(users)
    provider = Provider()
    port = free_port()
    params = {"AUTHORIZE_URL": f"{provider.base}/authorize",
              "TOKEN_URL": f"{provider.base}/token", "USER_URL": f"{provider.base}/userinfo"}
    server = LabServer(root, users, access, "--oauth-provider", "generic", "--",
                       "--oauth-extra-params", repr(params),
                       "--oauth-redirect-uri", f"http://127.0.0.1:{port}/login",
                       port=port, env={"PANEL_OAUTH_KEY": CLIENT_ID,
                                       "PANEL_OAUTH_SECRET": CLIENT_SECRET})
    yield server, provider
    server.stop()
    provider.stop()


def oauth_sign_in(server: LabServer, provider: Provider, who: str) -> str:
    """Follow the app's redirects through the provider and back, as a browser does; the
    Cookie header of the signed-in session."""
    provider.who = who
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(server.url, timeout=120) as resp:  # -> login -> provider -> login -> app
        assert resp.status == 200 and urllib.parse.urlsplit(resp.url).path == "/apps"
    return "; ".join(f"{c.name}={c.value}" for c in jar if c.port is None or
                     c.port == str(server.port))


def shown(server: LabServer, cookie: str) -> tuple[list[str], str, str]:
    async def run():
        s = Session(server.base, cookie=cookie)
        await s.open()
        select = next(m for m in s.find(None, "title") if s.attr(m, "title") == "Store")
        found = ([v for v, _ in s.attr(select, "options") or []], s.text_with("av-user") or "",
                 s.text_with("av-error") or "")
        await s.close()
        return found

    return asyncio.run(run())


def test_groups_come_from_the_providers_user_info(oauth_lab):
    server, provider = oauth_lab
    options, header, _ = shown(server, oauth_sign_in(server, provider, "dana@lab.org"))
    assert options == [s for s, g in STORES.items() if g == "hate"]
    assert "dana@lab.org" in header


def test_else_from_the_users_file_by_e_mail(oauth_lab):
    server, provider = oauth_lab
    options, header, _ = shown(server, oauth_sign_in(server, provider, "erin@lab.org"))
    assert options == [s for s, g in STORES.items() if g == "nlp"]
    assert "erin@lab.org" in header


def test_a_user_in_no_group_sees_no_store(oauth_lab):
    server, provider = oauth_lab
    options, _, error = shown(server, oauth_sign_in(server, provider, "frank@lab.org"))
    assert options == [] and "No stores for frank@lab.org" in error


def test_without_signing_in_at_the_provider_nothing_is_served(oauth_lab):
    server, _ = oauth_lab
    page = urllib.request.Request(server.url)
    opener = urllib.request.build_opener(NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(page, timeout=30)
    assert e.value.code == 302 and "login" in e.value.headers["Location"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
