"""Who a browser session belongs to: the signed-in user (``pn.state.user``, set by attviz's
sign-in or by a Panel OAuth provider), their groups, the stores they may open, and the
header's name and sign-out link.

Per-group access is on when the server has an access file (``ATTVIZ_ACCESS``, set by
`attviz serve`); without one every session sees the whole store root, as before.
"""

from __future__ import annotations

import html
import logging
import os

import panel as pn

from ..errors import UserError
from .access import Access, Scope
from .users import UsersFile

ENV_USERS = "ATTVIZ_USERS"
ENV_ACCESS = "ATTVIZ_ACCESS"
# relative: the app is served at /apps (or PREFIX/apps), the sign-out page beside it
LOGOUT_HREF = "logout"
GROUPS_CLAIM = "groups"  # the provider's user-info field that lists a user's groups
USER_STYLE = """
.av-header .av-user { float: right; font-weight: 400; font-size: 15px; opacity: 1;
                      margin-top: 4px; }
.av-header .av-user a { color: white; margin-left: 12px; }
"""
log = logging.getLogger("attviz.lab")
_users: dict[str, UsersFile] = {}


def users_file() -> UsersFile | None:
    """The server's users file (``ATTVIZ_USERS``), read again when it changes."""
    path = os.environ.get(ENV_USERS)
    if not path:
        return None
    if path not in _users:
        _users[path] = UsersFile(path)
    return _users[path]


def groups_of(user: str | None, info: dict | None) -> tuple[str, ...]:
    """The groups of ``user``: those the OAuth provider's user info lists, else those of the
    users file entry named by the user name or by the user info's e-mail address."""
    if not user:
        return ()
    claimed = (info or {}).get(GROUPS_CLAIM)
    if isinstance(claimed, list) and all(isinstance(g, str) for g in claimed):
        return tuple(claimed)
    users = users_file()
    if users is None:
        return ()
    known = users.current()
    entry = known.get(user) or known.get((info or {}).get("email"))
    return entry.groups if entry else ()


def session_scope(root: str | None) -> Scope | None:
    """The stores this session may open (None: no access file, every store of the root)."""
    access_file = os.environ.get(ENV_ACCESS)
    if not access_file:
        return None
    user = pn.state.user
    if user == "guest":  # Panel's name for a visitor of a guest endpoint
        user = None
    try:
        if not root:
            raise UserError("an access file needs a store root (--root or ATTVIZ_STORE_ROOT)")
        access = Access.load(access_file, root)
    except UserError as e:
        log.error("%s; user %r sees no stores", e, user)
        return Scope(user, (), ())
    return access.scope(user, groups_of(user, pn.state.user_info))


def signed_in_html() -> str:
    """The signed-in user's name and a sign-out link, for the page header ("" when nobody
    is signed in)."""
    user = pn.state.user
    if not user or user == "guest":
        return ""
    return (f'<div class="av-user">signed in as <b class="av-user-name">{html.escape(user)}</b>'
            f'<a class="av-logout" href="{LOGOUT_HREF}">sign out</a></div>')



class SignedInPage:
    """What the explorer page (:func:`attviz.explore.app.build_app`) asks of the server that
    serves it: the session's stores and the header's user."""

    stylesheet = USER_STYLE

    def scope(self, root: str | None) -> Scope | None:
        return session_scope(root)

    def header_html(self) -> str:
        return signed_in_html()
