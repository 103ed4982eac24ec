"""`attviz serve`: `panel serve apps/` with what sign-in and per-group access need, checked
before it starts.

It checks the store root, the users file, the access file and the cookie secret, then
replaces itself with ``python -m attviz.lab.launch APPS ...``, Panel's `panel serve` with
attviz's hardening (:mod:`attviz.lab.launch`: every route signed in, sessions tied to their
user, no cookie in the session token, timeouts for slow clients), with ``--num-procs`` above
1 run by :mod:`attviz.lab.supervise`, so that a signal stops every process, and started with:

- attviz's sign-in hooks (``--auth-module``, :mod:`attviz.lab.auth_hooks`), or Panel's own
  ``--oauth-provider`` when one is named;
- the cookie secret in ``PANEL_COOKIE_SECRET`` (not on the command line, where other users of
  the machine could read it), and a key derived from it that signs Bokeh's session ids
  (``BOKEH_SECRET_KEY``, ``BOKEH_SIGN_SESSIONS``): a websocket must present a session id the
  server issued;
- the users and access files and the root in ``ATTVIZ_USERS``, ``ATTVIZ_ACCESS`` and
  ``ATTVIZ_STORE_ROOT``, and the way users sign in in ``ATTVIZ_SIGN_IN`` (``password`` or
  ``oauth``);
- Bokeh's clean-up of unused sessions every ``--check-unused-sessions`` ms, after
  ``--unused-session-lifetime`` ms without a connection;
- the memory allocator of ``--allocator`` (:mod:`attviz.lab.allocator`: jemalloc where the
  system has it).

Anything after ``--`` goes to `panel serve` unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sys
from pathlib import Path

from ..errors import UserError
from .access import Access
from .allocator import allocator_env
from .users import Users

ENV_SECRET = "ATTVIZ_COOKIE_SECRET"
MIN_SECRET = 16
HOOKS = Path(__file__).with_name("auth_hooks.py")
APPS = Path(__file__).resolve().parents[2] / "apps"


def derived_key(secret: str, purpose: str) -> str:
    """A key for ``purpose`` derived from the cookie secret (the same on every host that
    shares the secret)."""
    digest = hmac.new(secret.encode("utf-8"), f"attviz {purpose}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def panel_command(args) -> tuple[list[str], dict[str, str]]:
    """The `panel serve` command line and environment for parsed `attviz serve` options;
    raise :class:`UserError` naming the first thing that is wrong."""
    root = Path(args.root).resolve()
    if not root.is_dir():
        raise UserError(f"--root {args.root}: no such folder")
    secret = args.cookie_secret or os.environ.get(ENV_SECRET, "")
    if not secret:
        raise UserError("sign-in needs a cookie secret: pass --cookie-secret or set "
                        f"{ENV_SECRET} (e.g. to the output of `python -c \"import secrets; "
                        "print(secrets.token_urlsafe(32))\"`), the same on every process and "
                        "host of the server")
    if len(secret) < MIN_SECRET:
        raise UserError(f"the cookie secret must have at least {MIN_SECRET} characters "
                        "(32 random bytes are recommended)")
    if args.users:
        known = Users.load(args.users)
        if not args.oauth_provider and not any(u.password for u in known.users.values()):
            raise UserError(f"{args.users}: no user with a password can sign in; add one with "
                            "`attviz users add`")
    elif not args.oauth_provider:
        raise UserError("--users USERS is needed unless an --oauth-provider signs users in")
    Access.load(args.access, root)  # raises on a malformed file
    apps = Path(args.apps).resolve() if args.apps else APPS
    if not (apps / "main.py").is_file():
        raise UserError(f"{apps}: no main.py; pass --apps with the folder of attviz's apps/")
    if args.num_procs < 1:
        raise UserError("--num-procs must be at least 1")
    if args.idle_timeout <= 0 or args.body_timeout <= 0:
        raise UserError("--idle-timeout and --body-timeout must be positive (seconds)")
    cmd = [sys.executable, "-m", "attviz.lab.launch", "--idle-timeout", str(args.idle_timeout),
           "--body-timeout", str(args.body_timeout), str(apps), "--port", str(args.port),
           "--address", args.address, "--num-procs", str(args.num_procs),
           "--check-unused-sessions", str(args.check_unused_sessions),
           "--unused-session-lifetime", str(args.unused_session_lifetime)]
    if args.use_xheaders:
        cmd += ["--use-xheaders"]
    if args.oauth_provider:
        cmd += ["--oauth-provider", args.oauth_provider]
    else:
        cmd += ["--auth-module", str(HOOKS)]
    for origin in args.allow_websocket_origin or []:
        cmd += ["--allow-websocket-origin", origin]
    extra = list(args.panel_args or [])
    cmd += [*(extra[1:] if extra[:1] == ["--"] else extra), "--args", "--root", str(root)]
    env = dict(os.environ)
    env.update({
        "ATTVIZ_STORE_ROOT": str(root),
        "ATTVIZ_ACCESS": str(Path(args.access).resolve()),
        "PANEL_COOKIE_SECRET": secret,
        "BOKEH_SECRET_KEY": derived_key(secret, "bokeh sessions"),
        "BOKEH_SIGN_SESSIONS": "true",
        "ATTVIZ_SIGN_IN": "oauth" if args.oauth_provider else "password",
    })
    env.pop(ENV_SECRET, None)
    if args.users:
        env["ATTVIZ_USERS"] = str(Path(args.users).resolve())
    else:
        env.pop("ATTVIZ_USERS", None)
    return cmd, env


def serve(args) -> int:
    """Check the options, then become `panel serve` (with several processes: their
    supervisor, :mod:`attviz.lab.supervise`); returns only when the options are wrong."""
    cmd, env = panel_command(args)
    env, memory = allocator_env(args.allocator, env)
    print(f"attviz serve: {' '.join(cmd)}", file=sys.stderr)
    print(f"attviz serve: memory: {memory}", file=sys.stderr, flush=True)
    if args.num_procs > 1:
        cmd = [sys.executable, "-m", "attviz.lab.supervise", *cmd]
    os.execve(sys.executable, cmd, env)
    return 1  # not reached
