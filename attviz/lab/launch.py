"""The server process of `attviz serve`: Panel's `panel serve` command, hardened.

``python -m attviz.lab.launch [--idle-timeout S] [--body-timeout S] PANEL_SERVE_ARGS...``
runs Panel's serve command (the same options) with:

- **every route signed in**: each route Panel or an option adds beside Bokeh's own (which
  check sign-in themselves; Panel's ``autoload.js`` is made to) answers 403 without a
  signed-in user, except the static files and attviz's ``/login`` and ``/logout``; Panel's
  ``/components/MODULE/...`` (which imports the module it names) serves only modules
  already imported;
- **sessions tied to their user**: the auth provider (attviz's, or Panel's OAuth) refuses a
  page or websocket asking for another user's session (:func:`attviz.lab.identity.check_owner`);
- **no cookie in the session token**: Bokeh copies no cookie, and not the ``Cookie`` or
  ``Authorization`` header, into the token it embeds in the page (the identity the session
  needs is added by ``apps/app_hooks.py``);
- **short log lines**: a line of the server's log is cut to ``MAX_LOG_LINE`` characters (a
  stranger's 60 KiB address would otherwise be logged whole by Tornado, once per request);
- **slow clients cut off**: a connection that has not sent a request's headers within
  ``--idle-timeout`` seconds (also an idle keep-alive connection), or its body within
  ``--body-timeout`` seconds, is closed; a request body may have at most ``MAX_BODY`` bytes
  (nothing the app needs is posted over HTTP; the websocket has its own limit).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys

IDLE_TIMEOUT = 20.0
BODY_TIMEOUT = 30.0
MAX_BODY = 64 * 1024
MAX_LOG_LINE = 500
NO_COOKIE = "attviz-no-cookie"  # the only cookie Bokeh may copy into a token: never set
PUBLIC = {
    "bokeh.server.views.static_handler.StaticHandler",
    "bokeh.server.views.multi_root_static_handler.MultiRootStaticHandler",
    "bokeh.server.views.ico_handler.IcoHandler",
}


class ShortLines(logging.Filter):
    """Cuts the message of a log record to MAX_LOG_LINE characters, saying how long it was."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_LOG_LINE:
            record.msg, record.args = (f"{message[:MAX_LOG_LINE]}... "
                                       f"({len(message):,} characters)"), ()
        return True


def shorten_log_lines() -> None:
    """Put :class:`ShortLines` on every handler of the root logger (set up by `panel serve`)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ShortLines) for f in handler.filters):
            handler.addFilter(ShortLines())


def _name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


async def signed_in_user(handler):
    """The user the application's auth provider finds for ``handler`` (None: nobody)."""
    provider = handler.application.auth_provider
    if provider.get_user_async is not None:
        return await provider.get_user_async(handler)
    if provider.get_user is not None:
        return provider.get_user(handler)
    return None


def signed_in_only(handler_class: type) -> type:
    """``handler_class`` answering 403 to a request without a signed-in user; for Panel's
    component resources, also 404 for a module not imported yet."""
    from tornado.web import HTTPError

    class SignedIn(handler_class):
        async def prepare(self):
            if await signed_in_user(self) is None:
                raise HTTPError(403, reason="sign-in required")
            result = super().prepare()
            if inspect.isawaitable(result):
                await result

        def parse_url_path(self, path: str) -> str:
            if _name(handler_class) == "panel.io.server.ComponentResourceHandler":
                module = path.split("/", 1)[0]
                if module not in sys.modules:
                    raise HTTPError(404, reason="not a module of this server")
            return super().parse_url_path(path)

    SignedIn.__name__ = SignedIn.__qualname__ = f"SignedIn{handler_class.__name__}"
    return SignedIn


def sign_in_autoload() -> None:
    """Panel's ``/APP/autoload.js`` answers 400 before it checks sign-in (a missing query
    argument): make it send a stranger to sign in first, like every other page of an app."""
    from bokeh.server.urls import per_app_patterns
    from tornado.web import authenticated

    for i, (route, handler, *rest) in enumerate(per_app_patterns):
        if route == "/autoload.js" and not getattr(handler, "attviz_signed_in", False):

            class SignedInAutoload(handler):
                attviz_signed_in = True

                @authenticated
                async def get(self, *args, **kwargs):
                    return await super().get(*args, **kwargs)

            per_app_patterns[i] = (route, SignedInAutoload, *rest)


def owner_checking(provider):
    """``provider`` (a Bokeh auth provider) whose users may only reach their own sessions."""
    from bokeh.server.auth_provider import AuthProvider

    from .identity import check_owner

    inner_sync, inner_async = provider.get_user, provider.get_user_async

    def get_user(handler):
        user = inner_sync(handler)
        check_owner(handler, user)
        return user

    async def get_user_async(handler):
        user = await inner_async(handler)
        check_owner(handler, user)
        return user

    class Owned(AuthProvider):
        endpoints = property(lambda self: provider.endpoints)
        get_login_url = property(lambda self: provider.get_login_url)
        get_user = property(lambda self: get_user if inner_sync else None)
        get_user_async = property(lambda self: get_user_async if inner_async else None)
        login_handler = property(lambda self: provider.login_handler)
        login_url = property(lambda self: provider.login_url)
        logout_handler = property(lambda self: provider.logout_handler)
        logout_url = property(lambda self: provider.logout_url)

    return Owned()


def serve_command(idle_timeout: float, body_timeout: float):
    """Panel's serve command class, with :func:`harden` applied to its server options."""
    from panel.command.serve import Serve

    class LabServe(Serve):
        def customize_kwargs(self, args, server_kwargs):
            return harden(super().customize_kwargs(args, server_kwargs), idle_timeout,
                          body_timeout)

    return LabServe


def harden(kwargs: dict, idle_timeout: float, body_timeout: float) -> dict:
    """Bokeh server options with what the module docstring lists."""
    kwargs = dict(kwargs)
    kwargs["extra_patterns"] = [
        (p[0], p[1] if _name(p[1]) in PUBLIC else signed_in_only(p[1]), *p[2:])
        for p in kwargs.get("extra_patterns") or []]
    provider = kwargs.get("auth_provider")
    if provider is not None and (provider.get_user or provider.get_user_async):
        kwargs["auth_provider"] = owner_checking(provider)
    kwargs["include_cookies"], kwargs["exclude_cookies"] = [NO_COOKIE], None
    kwargs["include_headers"] = None
    kwargs["exclude_headers"] = ["Cookie", "Authorization"]
    http = dict(kwargs.get("http_server_kwargs") or {})
    http.update(idle_connection_timeout=idle_timeout, body_timeout=body_timeout,
                max_body_size=MAX_BODY)
    kwargs["http_server_kwargs"] = http
    shorten_log_lines()
    return kwargs


def main(argv: list[str] | None = None) -> int:
    own = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    own.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT)
    own.add_argument("--body-timeout", type=float, default=BODY_TIMEOUT)
    ours, rest = own.parse_known_args(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="attviz serve: panel serve")
    command = serve_command(ours.idle_timeout, ours.body_timeout)(parser=parser)
    sign_in_autoload()
    args = parser.parse_args(rest)
    result = command.invoke(args)
    return 1 if result is False else 0


if __name__ == "__main__":
    sys.exit(main())
