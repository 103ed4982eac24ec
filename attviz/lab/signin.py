"""Sign-in against an attviz users file through Bokeh's auth hooks: who a request belongs to
(a signed ``user`` cookie naming a current user), the login page at ``/login`` (form fields
``username`` and ``password``) and ``/logout``. ``auth_hooks.py`` hands these to
`panel serve --auth-module`; `attviz serve` sets that up.

The cookie is signed with the server's cookie secret and named ``user``, the cookie Panel
reads ``pn.state.user`` from. A user removed from the users file is signed out at their next
request. Failed sign-ins are counted per user name and per address; after
``MAX_FAILURES`` within ``FAILURE_WINDOW`` seconds further tries are refused for that window.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict, deque

from tornado.ioloop import IOLoop
from tornado.web import RequestHandler

from .loginpage import login_page
from .users import UsersFile

ENV_USERS = "ATTVIZ_USERS"
COOKIE = "user"
COOKIE_DAYS = 7
MAX_FAILURES = 10
FAILURE_WINDOW = 300.0
MAX_KEYS = 10_000
login_url = "/login"
logout_url = "/logout"
log = logging.getLogger("attviz.lab")
_files: dict[str, UsersFile] = {}


def users() -> UsersFile:
    """The users file named by ``ATTVIZ_USERS`` (a server without one has no users)."""
    path = os.environ.get(ENV_USERS, "")
    if path not in _files:
        if not path:
            log.error("%s is not set: nobody can sign in", ENV_USERS)
        _files[path] = UsersFile(path or os.devnull)
    return _files[path]


def get_user(request_handler: RequestHandler) -> str | None:
    """The signed-in user of a request, or None (Bokeh then sends the browser to login)."""
    if not request_handler.application.settings.get("cookie_secret"):
        return None  # `attviz serve` refuses to start without one
    value = request_handler.get_secure_cookie(COOKIE, max_age_days=COOKIE_DAYS)
    if value is None:
        return None
    try:
        name = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return name if users().current().get(name) else None


def safe_next(url: str | None) -> str:
    """``url`` if it is a path on this server, else ``/``: sign-in never sends a browser to
    another site."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


class Failures:
    """Recent failed sign-ins by key (a user name, an address)."""

    def __init__(self) -> None:
        self._times: dict[str, deque] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque:
        times = self._times[key]
        while times and now - times[0] > FAILURE_WINDOW:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(len(self._recent(k, now)) >= MAX_FAILURES for k in keys)

    def add(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._times) > MAX_KEYS:  # forget keys whose failures are all old
            for k in [k for k in self._times if not self._recent(k, now)]:
                del self._times[k]
        for k in keys:
            self._recent(k, now).append(now)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)


failures = Failures()


class LoginHandler(RequestHandler):
    """``GET /login``: the form; ``POST /login``: check the user name and password, set the
    signed cookie and go to ``next``."""

    def get(self) -> None:
        notice = "signed-out" if self.get_argument("signed_out", "") else None
        self._page(safe_next(self.get_argument("next", "/")), notice=notice)

    async def post(self) -> None:
        name = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        next_url = safe_next(self.get_body_argument("next", "/"))
        keys = (f"user:{name}", f"address:{self.request.remote_ip}")
        if failures.blocked(*keys):
            log.warning("sign-in of %r from %s refused: too many failures", name,
                        self.request.remote_ip)
            self.set_status(429)
            self._page(next_url, name, "throttled")
            return
        known = users().current()
        # scrypt takes ~0.1 s: checked in a worker thread, the server keeps serving
        user = await IOLoop.current().run_in_executor(None, known.check, name, password)
        if user is None:
            failures.add(*keys)
            log.warning("failed sign-in of %r from %s", name, self.request.remote_ip)
            self.set_status(401)
            self._page(next_url, name, "wrong")
            return
        failures.clear(keys[0])
        log.info("%r signed in from %s", name, self.request.remote_ip)
        self.set_secure_cookie(COOKIE, name, expires_days=COOKIE_DAYS, httponly=True,
                               samesite="Lax", secure=self.request.protocol == "https")
        self.redirect(next_url)

    def _page(self, next_url: str, name: str = "", notice: str | None = None) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                        "form-action 'self'; frame-ancestors 'none'")
        # the form posts to the address the page was fetched from (login, under any prefix)
        self.write(login_page(self.request.path, next_url, name, notice))


class LogoutHandler(RequestHandler):
    """``GET /logout``: forget the cookie and show the sign-in page with a notice."""

    def get(self) -> None:
        self.clear_cookie(COOKIE)
        self.redirect("login?signed_out=1")
