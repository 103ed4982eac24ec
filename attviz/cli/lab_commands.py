"""The commands of a lab server: `users add|remove|list` (its users file; the password is
asked for at a terminal, or read as one line from stdin when stdin is not a terminal) and
`serve`."""

from __future__ import annotations

import argparse
import getpass
import sys

from ..errors import UserError
from ..lab.users import Users, change_users, check_name
from .command import Command


def read_password(name: str) -> str:
    """The new password of ``name``: typed twice at a terminal, else the first line of stdin."""
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise UserError("no password on stdin (one line is read when stdin is not a terminal)")
    return line.rstrip("\r\n")


def list_users(args: argparse.Namespace) -> int:
    for u in sorted(Users.load(args.users).users.values(), key=lambda u: u.name):
        how = "password" if u.password else "OAuth only"
        print(f"{u.name}\t{','.join(u.groups)}\t{how}")
    return 0


def add_user(args: argparse.Namespace) -> int:
    check_name(args.name)  # before asking for a password
    existed = Users.load(args.users, missing_ok=True).get(args.name) is not None
    if existed and not args.update:
        raise UserError(f"user {args.name!r} exists already; pass --update to change their "
                        "password and groups")
    password = None if args.no_password else read_password(args.name)
    change_users(args.users, lambda known: known.add(args.name, args.group or [], password,
                                                     update=args.update), missing_ok=True)
    print(f"{'updated' if existed else 'added'} {args.name} "
          f"(groups: {', '.join(dict.fromkeys(args.group))}) in {args.users}"
          + ("; their earlier sign-ins are revoked" if existed else ""))
    return 0


def remove_user(args: argparse.Namespace) -> int:
    change_users(args.users, lambda known: known.remove(args.name))
    print(f"removed {args.name} from {args.users}")
    return 0


def serve(args: argparse.Namespace) -> int:
    from ..lab.serve import serve

    return serve(args)


def _users_file(p: argparse.ArgumentParser, helptext: str = "users file") -> None:
    p.add_argument("--users", required=True, help=helptext)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="user name (for OAuth: the e-mail address)")
    _users_file(p, "users file (created when missing)")
    p.add_argument("--group", action="append", required=True,
                   help="a group of the user (repeatable); groups name folders in the access file")
    p.add_argument("--update", action="store_true", help="replace an existing user's password "
                   "and groups")
    p.add_argument("--no-password", action="store_true",
                   help="no password: the user signs in through an OAuth provider only")


def _remove_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="user name")
    _users_file(p)


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, help="folder of the stores")
    p.add_argument("--users", help="users file (`attviz users add`); optional with "
                   "--oauth-provider, where groups may come from the provider")
    p.add_argument("--access", required=True, help="access file (TOML): the folders under "
                   "--root each group may open")
    p.add_argument("--port", type=int, default=5006, help="port (default: 5006)")
    p.add_argument("--address", default="127.0.0.1", help="address to listen on "
                   "(default: 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--num-procs", type=int, default=1, help="server processes (default: 1); "
                   "put a proxy with sticky sessions in front of several (README)")
    p.add_argument("--cookie-secret", help="secret that signs the sign-in cookie and the "
                   "session ids (default: $ATTVIZ_COOKIE_SECRET; required)")
    p.add_argument("--oauth-provider", help="sign in through Panel's OAuth provider (github, "
                   "gitlab, google, azure, okta, generic, ...) instead of the users file's "
                   "passwords")
    p.add_argument("--allow-websocket-origin", action="append", metavar="HOST[:PORT]",
                   help="a host name browsers reach the server by (repeatable)")
    p.add_argument("--check-unused-sessions", type=int, default=5000, metavar="MS",
                   help="how often unused sessions are looked for (default: 5000 ms)")
    p.add_argument("--unused-session-lifetime", type=int, default=30000, metavar="MS",
                   help="a session without a connection this long is closed (default: 30000 ms)")
    p.add_argument("--use-xheaders", action="store_true",
                   help="behind a proxy (nginx): take the browser's address and scheme from "
                   "X-Forwarded-For/X-Real-Ip and X-Forwarded-Proto/X-Scheme (the sign-in "
                   "throttle counts the browser's address; cookies are marked Secure behind "
                   "https). Only behind a proxy that sets them: a browser can send them too")
    p.add_argument("--idle-timeout", type=float, default=20.0, metavar="S",
                   help="close a connection that has not sent a request's headers within S "
                   "seconds, and a kept-alive connection idle that long (default: 20)")
    p.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                   help="close a connection that has not sent a request's body within S "
                   "seconds (default: 30); bodies over 64 KiB are refused (a sign-in form "
                   "over 8 KiB)")
    p.add_argument("--allocator", choices=("auto", "jemalloc", "python"), default="auto",
                   help="memory allocator of the server processes: jemalloc gives the memory "
                   "of closed sessions back to the system (Debian: libjemalloc2); auto uses "
                   "it when installed (default: auto)")
    p.add_argument("--apps", help="the apps/ folder to serve (default: the one beside attviz)")
    p.add_argument("panel_args", nargs=argparse.REMAINDER, metavar="-- PANEL_OPTIONS",
                   help="options passed to `panel serve` unchanged")


USERS_EXAMPLES = """examples:
  attviz users add alice --users lab-users.json --group nlp              # asks for the password
  attviz users add bob --users lab-users.json --group nlp --group hate
  printf '%s\\n' "$PASSWORD" | attviz users add carol --users lab-users.json --group hate
  attviz users add alice --users lab-users.json --group nlp --update     # new password, groups
  attviz users add dana@lab.org --users lab-users.json --group nlp --no-password   # OAuth only
  attviz users remove bob --users lab-users.json
  attviz users list --users lab-users.json

The file keeps salted scrypt hashes, never a password; it is rewritten atomically and
readable by its owner only. A running server reads it again when it changes. A password is
kept as typed (spaces included); a name may not have surrounding spaces or control
characters. --update and remove revoke every sign-in of the user: their cookies stop
working and their open pages are closed within 5 s."""

USERS = Command(
    "users", "add, remove or list the users of a lab server (`attviz serve`): names, groups "
    "and password hashes", examples=USERS_EXAMPLES, actions=(
        Command("add", "add a user (or change one, with --update)", _add_arguments, add_user,
                USERS_EXAMPLES),
        Command("remove", "remove a user", _remove_arguments, remove_user, USERS_EXAMPLES),
        Command("list", "list users and groups (never hashes)", _users_file, list_users,
                USERS_EXAMPLES),
    ))

SERVE = Command(
    "serve", "serve the explorer to a lab: sign-in, per-group store access, several processes "
    "(starts `panel serve apps/`)", _serve_arguments, serve,
    examples="""examples:
  export ATTVIZ_COOKIE_SECRET=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
  attviz serve --root /data/stores --users lab-users.json --access access.toml
  attviz serve --root /data/stores --users lab-users.json --access access.toml \\
      --address 0.0.0.0 --port 5006 --num-procs 4 --allow-websocket-origin attviz.lab.org
  attviz serve --root /data/stores --users lab-users.json --access access.toml \\
      --oauth-provider github -- --oauth-redirect-uri https://attviz.lab.org/login

access.toml maps groups to folders under --root (recursively):
  [groups]
  nlp = ["bbc", "shared"]
  hate = ["tweets"]

Starts `panel serve apps/` with attviz's sign-in (/login, /logout) or Panel's OAuth provider
(key and secret in PANEL_OAUTH_KEY, PANEL_OAUTH_SECRET), signed sessions tied to their user,
the clean-up of unused sessions, and every route signed in. Slow clients are cut off: a
connection that has not sent a request's headers within --idle-timeout seconds, or its body
within --body-timeout seconds, is closed (Tornado's idle_connection_timeout and
body_timeout); a request body may not exceed 64 KiB. Behind a TLS proxy pass --use-xheaders
(README, "Security"). The server processes use jemalloc where it is installed (--allocator),
which gives the memory of closed sessions back. Options after -- go to `panel serve`
unchanged.""")
