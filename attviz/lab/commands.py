"""`attviz users add|remove|list`: keep a lab server's users file; the password is asked for
at a terminal, or read as one line from stdin when stdin is not a terminal."""

from __future__ import annotations

import getpass
import sys

from ..errors import UserError
from .users import Users


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


def users(args) -> int:
    if args.action == "list":
        for u in sorted(Users.load(args.users).users.values(), key=lambda u: u.name):
            how = "password" if u.password else "OAuth only"
            print(f"{u.name}\t{','.join(u.groups)}\t{how}")
        return 0
    known = Users.load(args.users, missing_ok=args.action == "add")
    if args.action == "add":
        existed = known.get(args.name) is not None
        password = None if args.no_password else read_password(args.name)
        known.add(args.name, args.group or [], password, update=args.update)
        known.save(args.users)
        print(f"{'updated' if existed else 'added'} {args.name} "
              f"(groups: {', '.join(dict.fromkeys(args.group))}) in {args.users}")
    else:
        known.remove(args.name)
        known.save(args.users)
        print(f"removed {args.name} from {args.users}")
    return 0
