"""Sign-in against an attviz users file through Bokeh's auth hooks: who a request belongs to
(a signed ``user`` cookie naming a current user at their current generation,
:mod:`attviz.lab.identity`), the sign-in page at ``/login`` (form fields ``username``,
``password`` and ``form_token``) and sign-out at ``/logout`` (a form posting ``token``).
``auth_hooks.py`` hands these to `panel serve --auth-module`; `attviz serve` sets that up.

- A user removed from the users file, or given a new generation (a new password, a sign-out),
  is signed out at their next request.
- Failed sign-ins are counted per user name and per address (:mod:`attviz.lab.throttle`);
  after ``MAX_FAILURES`` within ``FAILURE_WINDOW`` seconds further tries are refused.
- A post to ``/login`` or ``/logout`` must come from a page of this server: the ``Origin``
  (else ``Referer``) header, when a browser sends one, names this server (its ``Host``, or
  a host of ``--allow-websocket-origin``), and the form carries its token: for sign-in, the
  value of a signed cookie the form's page set (``login_form``); for sign-out, a token only
  the user's own pages hold.
- The log shows a short, escaped form of a name typed, and never a password.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from urllib.parse import urlsplit

from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler

from ..workers import Workers
from .identity import (
    COOKIE,
    COOKIE_DAYS,
    ENV_USERS,
    cookie_value,
    short,
    signout_token,
    user_of_cookie,
    user_of_request,
    users,
)
from .loginpage import login_page, signout_page
from .throttle import Failures, key
from .users import MAX_NAME, change_users

FORM_COOKIE = "login_form"
MAX_BODY = 8 * 1024  # a sign-in form: a name of 128 characters, a password, two tokens
login_url = "/login"
logout_url = "/logout"
log = logging.getLogger("attviz.lab")
failures = Failures()
# Password checks (scrypt: ~0.1 s of CPU and 32 MiB each) and users-file rewrites run in these
# threads, so that the server keeps serving; at most this many at a time, whatever a stranger
# posts.
WORKERS = 2
workers = Workers(WORKERS, "attviz-signin")


def get_user(request_handler: RequestHandler) -> str | None:
    """The signed-in user of a request, or None (Bokeh then sends the browser to login). (The
    server `attviz serve` starts also refuses a request for another user's session:
    :mod:`attviz.lab.launch`.)"""
    if not request_handler.application.settings.get("cookie_secret"):
        return None  # `attviz serve` refuses to start without one
    user = user_of_cookie(request_handler.get_secure_cookie(COOKIE, max_age_days=COOKIE_DAYS))
    return user.name if user else None


def safe_next(url: str | None) -> str:
    """``url`` if it is a path on this server, else ``/``: sign-in never sends a browser to
    another site. Only printable ASCII without spaces or backslashes (browsers drop tabs and
    newlines and read ``\\`` as ``/``), starting with one ``/``, without scheme or host."""
    if not url or not url.startswith("/") or url.startswith("//"):
        return "/"
    if any(not 0x21 <= ord(c) <= 0x7E for c in url) or "\\" in url:
        return "/"
    parts = urlsplit(url)
    return "/" if parts.scheme or parts.netloc else url


def from_this_server(handler: RequestHandler) -> bool:
    """Whether a browser's post comes from a page of this server (Origin, else Referer);
    True for clients that send neither (no browser, so no forged form)."""
    from bokeh.server.util import check_allowlist

    origin = handler.request.headers.get("Origin") or handler.request.headers.get("Referer")
    if origin is None:
        return True
    host = urlsplit(origin).netloc.lower() if origin != "null" else ""
    if not host:
        return False
    if host == handler.request.host.lower():
        return True
    allowed = getattr(handler.application, "websocket_origins", None) or set()
    return check_allowlist(host, allowed)


class FormHandler(RequestHandler):
    """What the sign-in and sign-out pages share: no caching, a strict content policy, small
    bodies, posts only from this server's pages."""

    def prepare(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src "
                        "'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
        if self.request.method == "POST":
            if len(self.request.body) > MAX_BODY:
                raise HTTPError(413, reason="form too large")
            if not from_this_server(self):
                log.warning("refused a %s post from another site (%s) from %s",
                            self.request.path, short(self.request.headers.get("Origin")
                                                     or self.request.headers.get("Referer")),
                            self.request.remote_ip)
                raise HTTPError(403, reason="posted from another site")

    def field(self, name: str) -> str:
        """A form field as typed (Tornado strips whitespace unless told not to)."""
        return self.get_body_argument(name, "", strip=False)

    @property
    def https(self) -> bool:
        return self.request.protocol == "https"


class LoginHandler(FormHandler):
    """``GET /login``: the form; ``POST /login``: check the form token, the user name and the
    password, set the signed cookie and go to ``next``."""

    def get(self) -> None:
        notice = "signed-out" if self.get_argument("signed_out", "") else None
        self._page(safe_next(self.get_argument("next", "/", strip=False)), notice=notice)

    async def post(self) -> None:
        name, password = self.field("username"), self.field("password")
        next_url = safe_next(self.field("next") or "/")
        if not self._form_token_ok():
            log.warning("sign-in of %s from %s refused: no valid form token", short(name),
                        self.request.remote_ip)
            self.set_status(403)
            self._page(next_url, name, "expired")
            return
        keys = (key("user", name), key("address", self.request.remote_ip or ""))
        if failures.blocked(*keys):
            log.warning("sign-in of %s from %s refused: too many failures", short(name),
                        self.request.remote_ip)
            self.set_status(429)
            self._page(next_url, name, "throttled")
            return
        known = users().current()
        # scrypt takes ~0.1 s: checked in a worker thread, the server keeps serving. A name
        # no user can have is not checked (and not counted by name: it is nobody's)
        user = None
        if len(name) <= MAX_NAME:
            user = await IOLoop.current().run_in_executor(workers(), known.check, name, password)
        if user is None:
            failures.add(*(keys if len(name) <= MAX_NAME else keys[1:]))
            log.warning("failed sign-in of %s from %s", short(name), self.request.remote_ip)
            self.set_status(401)
            self._page(next_url, name[:MAX_NAME], "wrong")
            return
        failures.clear(keys[0])
        log.info("%s signed in from %s", short(name), self.request.remote_ip)
        self.set_secure_cookie(COOKIE, cookie_value(user), expires_days=COOKIE_DAYS,
                               httponly=True, samesite="Lax", secure=self.https)
        self.clear_cookie(FORM_COOKIE, secure=self.https, samesite="Strict", httponly=True)
        self.redirect(next_url)

    def _form_token(self) -> str:
        """The token of this browser's sign-in form: kept in a signed cookie (made now when
        the browser has none)."""
        value = self.get_secure_cookie(FORM_COOKIE, max_age_days=1)
        token = value.decode("ascii", "replace") if value else secrets.token_urlsafe(18)
        if not value:
            self.set_secure_cookie(FORM_COOKIE, token, expires_days=None, httponly=True,
                                   samesite="Strict", secure=self.https)
        return token

    def _form_token_ok(self) -> bool:
        value = self.get_secure_cookie(FORM_COOKIE, max_age_days=1)
        sent = self.field("form_token")
        return bool(value and sent) and hmac.compare_digest(value, sent.encode("utf-8"))

    def _page(self, next_url: str, name: str = "", notice: str | None = None) -> None:
        # the form posts to the address the page was fetched from (login, under any prefix)
        self.write(login_page(self.request.path, next_url, self._form_token(), name, notice))


class LogoutHandler(FormHandler):
    """``GET /logout``: a page with a sign-out button (a link from elsewhere signs nobody
    out); ``POST /logout`` with the user's sign-out token: revoke every cookie of the user
    (a new generation in the users file) and show the sign-in page with a notice."""

    def get(self) -> None:
        user = user_of_request(self.request)
        if user is None:
            self.redirect("login")
            return
        self.write(signout_page(self.request.path, user.name,
                                signout_token(user.name, user.generation)))

    async def post(self) -> None:
        user = user_of_request(self.request)
        if user is not None:
            sent = self.field("token")
            if not hmac.compare_digest(sent, signout_token(user.name, user.generation)):
                raise HTTPError(403, reason="not a sign-out form of this user")
            await IOLoop.current().run_in_executor(workers(), change_users, os.environ[ENV_USERS],
                                                   lambda known: known.revoke(user.name))
            log.info("%s signed out; their cookies are revoked", short(user.name))
        self.clear_cookie(COOKIE, secure=self.https, samesite="Lax", httponly=True)
        self.redirect("login?signed_out=1")
