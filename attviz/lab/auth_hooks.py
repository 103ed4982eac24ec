"""The file `attviz serve` passes to `panel serve --auth-module` (Bokeh loads it by path):
attviz's sign-in hooks, from :mod:`attviz.lab.signin`."""

from attviz.lab.signin import LoginHandler, LogoutHandler, get_user, login_url, logout_url

__all__ = ["LoginHandler", "LogoutHandler", "get_user", "login_url", "logout_url"]
