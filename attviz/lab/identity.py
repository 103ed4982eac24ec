"""Who a request and a Bokeh session belong to.

- The sign-in cookie ``user`` is signed with the server's cookie secret and holds
  ``GENERATION:NAME``; it signs a browser in while the users file still gives that user that
  generation (:mod:`attviz.lab.users`), so a new generation revokes every cookie issued before.
- Bokeh's session token carries no cookie (`attviz serve` copies none into it, and not the
  ``Cookie`` header; :mod:`attviz.lab.launch`): the identity a session needs is added to the
  token when its page is requested (:func:`request_identity`, Bokeh's ``process_request``
  hook in ``apps/app_hooks.py``) under ``attviz_user``, ``attviz_generation`` (attviz's
  sign-in) or ``attviz_groups`` (an OAuth provider's), and the token is signed.
- A session belongs to the user it was created for (:func:`check_owner`): a page or a
  websocket asking for a session, or presenting a token, of another user is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

from tornado.web import HTTPError, decode_signed_value

from .users import User, UsersFile

ENV_USERS = "ATTVIZ_USERS"
ENV_SIGN_IN = "ATTVIZ_SIGN_IN"  # "password" (attviz's sign-in) or "oauth"; set by attviz serve
ENV_SECRET = "PANEL_COOKIE_SECRET"
COOKIE = "user"
COOKIE_DAYS = 7
USER, GENERATION, GROUPS = "attviz_user", "attviz_generation", "attviz_groups"
GROUPS_CLAIM = "groups"  # the provider's user-info field that lists a user's groups
log = logging.getLogger("attviz.lab")
_files: dict[str, UsersFile] = {}


def users() -> UsersFile:
    """The users file named by ``ATTVIZ_USERS`` (a server without one has no users)."""
    path = os.environ.get(ENV_USERS, "")
    if path not in _files:
        _files[path] = UsersFile(path or os.devnull)
    return _files[path]


def sign_in_mode() -> str:
    """``password``, ``oauth``, or "" (no sign-in: plain `panel serve apps/`)."""
    return os.environ.get(ENV_SIGN_IN, "")


def secret() -> str:
    return os.environ.get(ENV_SECRET, "")


# -- the cookie ------------------------------------------------------------------------------
def cookie_value(user: User) -> str:
    """What the signed cookie of ``user`` holds."""
    return f"{user.generation}:{user.name}"


def user_of_cookie(value: bytes | None) -> User | None:
    """The current user a verified cookie value names, or None when it names nobody, an
    earlier generation of the user, or a user without a password."""
    if value is None:
        return None
    try:
        generation, name = value.decode("utf-8").split(":", 1)
    except (UnicodeDecodeError, ValueError):
        return None
    user = users().current().get(name)
    if user is None or user.password is None:
        return None
    return user if hmac.compare_digest(user.generation, generation) else None


def user_of_request(request) -> User | None:
    """The signed-in user of a Tornado request, from its cookie."""
    morsel = request.cookies.get(COOKIE)
    if morsel is None or not secret():
        return None
    return user_of_cookie(decode_signed_value(secret(), COOKIE, morsel.value,
                                              max_age_days=COOKIE_DAYS))


def signout_token(user: str, generation: str) -> str:
    """The token a sign-out form posts: only pages served to this user at this generation
    know it."""
    key = hashlib.sha256(f"attviz sign-out {secret()}".encode()).digest()
    return hmac.new(key, f"{generation}:{user}".encode(), hashlib.sha256).hexdigest()


# -- the identity in the session token --------------------------------------------------------
def request_identity(request) -> dict:
    """What Bokeh adds to the session token of a page request: the user and their
    generation (attviz's sign-in) or groups (OAuth); nothing without sign-in."""
    mode = sign_in_mode()
    if mode == "password":
        user = user_of_request(request)
        return {USER: user.name if user else None, GENERATION: user.generation if user else ""}
    if mode == "oauth":
        user, info = _oauth_identity(request)
        return {USER: user, GROUPS: list(groups_of(user, info))}
    return {}


def _oauth_identity(request) -> tuple[str | None, dict | None]:
    """The user name and user info Panel's OAuth sign-in keeps in its cookies."""
    from panel.auth import decode_token
    from panel.config import config
    from panel.io.state import state

    def cookie(name: str) -> str | None:
        morsel = request.cookies.get(name)
        if morsel is None or not config.cookie_secret:
            return None
        raw = decode_signed_value(config.cookie_secret, name, morsel.value,
                                  max_age_days=config.oauth_expiry)
        # Panel's own reading of its cookies (encrypted with PANEL_OAUTH_ENCRYPTION)
        return None if raw is None else state._decrypt_cookie(raw)

    user, id_token = cookie("user"), cookie("id_token")
    try:
        info = decode_token(id_token) if id_token else None
    except Exception:  # noqa: BLE001 - a token Panel cannot read: no user info
        info = None
    return user, info


def groups_of(user: str | None, info: dict | None) -> tuple[str, ...]:
    """The groups of ``user``: those the OAuth provider's user info lists, else those of the
    users file entry named by the user name or by the user info's e-mail address."""
    if not user:
        return ()
    claimed = (info or {}).get(GROUPS_CLAIM)
    if isinstance(claimed, list) and all(isinstance(g, str) for g in claimed):
        return tuple(claimed)
    if not os.environ.get(ENV_USERS):
        return ()
    known = users().current()
    entry = known.get(user) or known.get((info or {}).get("email"))
    return entry.groups if entry else ()


def token_payload(token: str | None) -> dict:
    from bokeh.util.token import get_token_payload

    if not token:
        return {}
    try:
        return get_token_payload(token)
    except Exception:  # noqa: BLE001 - a malformed token carries nothing
        return {}


# -- sessions and their owners ------------------------------------------------------------------
def requested_session(handler) -> tuple[str | None, str | None]:
    """(session id, token) a Bokeh request names: a websocket's token, or a page's
    ``bokeh-token``, ``bokeh-session-id`` or ``Bokeh-Session-Id``."""
    from bokeh.util.token import get_session_id

    headers = handler.request.headers
    token = None
    if headers.get("Upgrade", "").lower() == "websocket":
        parts = [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",")]
        token = parts[1] if len(parts) == 2 and parts[0] == "bokeh" else None
    else:
        token = handler.get_query_argument("bokeh-token", None)
    if token:
        try:
            return get_session_id(token), token
        except Exception:  # noqa: BLE001
            raise HTTPError(403, reason="malformed session token") from None
    return (handler.get_query_argument("bokeh-session-id", None)
            or headers.get("Bokeh-Session-Id")), None


def owned_by(session, user: str) -> bool:
    """Whether the Bokeh session ``session`` was created for ``user`` (or without sign-in)."""
    payload = token_payload(getattr(session, "token", None))
    return USER not in payload or payload[USER] == user


def check_owner(handler, user: str | None) -> None:
    """Raise HTTPError 403 when ``handler``'s request asks for a session created for another
    user than ``user``, or presents a token issued to another user."""
    context = getattr(handler, "application_context", None)
    if context is None or user is None:
        return
    session_id, token = requested_session(handler)
    claimed = token_payload(token).get(USER, user) if token else user
    session = None
    if session_id:
        try:
            session = context.get_session(session_id)
        except Exception:  # noqa: BLE001 - no such session (yet)
            session = None
    if claimed != user or (session is not None and not owned_by(session, user)):
        log.warning("refused session of another user to %s", short(user))
        raise HTTPError(403, reason="this session belongs to another user")


def short(text: str | None, limit: int = 40) -> str:
    """``text`` as the log shows what a stranger typed: escaped (``repr``), cut to ``limit``
    characters with its length."""
    if text is None:
        return "None"
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"
