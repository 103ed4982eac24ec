"""Who a browser session belongs to: the signed-in user (the identity the lab server put in
the session's token, :mod:`attviz.lab.identity`; else ``pn.state.user``), their groups, the
stores they may open, the header's name and sign-out button, and the end of the session when
the user's sign-in is revoked.

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
from .identity import GENERATION, GROUPS, USER, groups_of, short, signout_token, token_payload
from .identity import users as users_file

ENV_ACCESS = "ATTVIZ_ACCESS"
# relative: the app is served at /apps (or PREFIX/apps), the sign-out page beside it
LOGOUT_HREF = "logout"
REVOCATION_CHECK_MS = 2000  # an open session of a revoked sign-in ends within this (+ a close)
USER_STYLE = """
.av-header .av-user { float: right; font-weight: 400; font-size: 15px; opacity: 1;
                      margin-top: 4px; }
.av-header .av-user a { color: white; margin-left: 12px; }
.av-header .av-user form { display: inline; margin: 0 0 0 12px; }
.av-header .av-user button { color: white; background: none; border: 0; padding: 0;
                             font: inherit; text-decoration: underline; cursor: pointer; }
"""
log = logging.getLogger("attviz.lab")


def session_identity() -> dict:
    """What the server put in this session's token (empty without sign-in)."""
    context = pn.state.curdoc.session_context if pn.state.curdoc else None
    return token_payload(getattr(context, "_token", None))  # Bokeh's token_payload, if any


def session_user() -> str | None:
    """The session's signed-in user (None: nobody)."""
    identity = session_identity()
    user = identity[USER] if USER in identity else pn.state.user
    return None if user == "guest" else user  # Panel's name for a visitor of a guest endpoint


def session_scope(root: str | None) -> Scope | None:
    """The stores this session may open (None: no access file, every store of the root)."""
    access_file = os.environ.get(ENV_ACCESS)
    if not access_file:
        return None
    user = session_user()
    try:
        if not root:
            raise UserError("an access file needs a store root (--root or ATTVIZ_STORE_ROOT)")
        access = Access.load(access_file, root)
    except UserError as e:
        log.error("%s; user %r sees no stores", e, user)
        return Scope(user, (), ())
    identity = session_identity()
    groups = identity[GROUPS] if GROUPS in identity else groups_of(user, pn.state.user_info)
    return access.scope(user, groups)


def signed_in_html() -> str:
    """The signed-in user's name and a sign-out button (attviz's sign-in: a form posting the
    user's sign-out token) or link (OAuth), for the page header ("" when nobody is signed
    in)."""
    user = session_user()
    if not user:
        return ""
    identity = session_identity()
    if GENERATION in identity:
        token = signout_token(user, identity[GENERATION])
        out = (f'<form method="post" action="{LOGOUT_HREF}"><input type="hidden" name="token" '
               f'value="{token}"><button type="submit" class="av-logout">sign out</button>'
               "</form>")
    else:
        out = f'<a class="av-logout" href="{LOGOUT_HREF}">sign out</a>'
    return (f'<div class="av-user">signed in as <b class="av-user-name">{html.escape(user)}'
            f"</b>{out}</div>")


def close_session(document) -> None:
    """Close every connection of the Bokeh session of ``document`` (its browser sees the
    connection lost; reconnecting needs a valid sign-in)."""
    session = getattr(document.session_context, "_session", None)
    for connection in list(getattr(session, "_subscribed_connections", ())):
        socket = getattr(connection, "_socket", None)
        if socket is not None:
            socket.close(1008, "signed out")


def watch_revocation() -> None:
    """End this session when its user's sign-in is revoked (removed, a new password, signed
    out): checked every REVOCATION_CHECK_MS against the users file."""
    identity = session_identity()
    user, generation = identity.get(USER), identity.get(GENERATION)
    document = pn.state.curdoc
    if not user or generation is None or document is None:
        return

    def check() -> None:
        current = users_file().current().get(user)
        if current is None or current.generation != generation:
            log.info("closing a session of %s: their sign-in was revoked", short(user))
            callback.stop()
            close_session(document)

    callback = pn.state.add_periodic_callback(check, period=REVOCATION_CHECK_MS)


class SignedInPage:
    """What the explorer page (:func:`attviz.explore.app.build_app`) asks of the server that
    serves it: the session's stores and the header's user. Made once per session (by
    ``apps/main.py``), it starts watching for the revocation of the session's sign-in."""

    stylesheet = USER_STYLE

    def __init__(self) -> None:
        watch_revocation()

    def scope(self, root: str | None) -> Scope | None:
        return session_scope(root)

    def header_html(self) -> str:
        return signed_in_html()
