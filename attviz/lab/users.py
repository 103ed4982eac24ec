"""The users file of a lab server: user names, their groups and salted scrypt hashes of their
passwords (no password is ever written in clear), read and written whole and atomically.

The file is JSON::

    {"format": "attviz-users", "version": 1,
     "users": {"alice": {"groups": ["nlp"], "password": "scrypt$32768$8$1$SALT$HASH",
                         "generation": "x3Jq0vXhT1aZ"}}}

``password`` is null for a user who signs in only through an OAuth provider (matched by the
name, usually the e-mail address the provider reports). ``generation`` is a random word that
every sign-in cookie of the user carries: a new one (on sign-out, a password or group change,
removal and re-adding) revokes every cookie issued before. A file without it (written by an
older attviz) reads as generation "".

Changes go through :func:`change_users`, which locks the file's folder while it reads,
changes and writes it, so that the command line and a server signing a user out never lose
each other's change.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import UserError

FORMAT = "attviz-users"
VERSION = 1
# scrypt cost: N=2^15, r=8, p=1 needs 32 MiB and ~0.1 s a check on one core
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD = 8
MAX_NAME = 128
GROUP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
log = logging.getLogger("attviz.lab")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$SALT$HASH`` of ``password`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                         maxmem=SCRYPT_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (made by :func:`hash_password`)."""
    try:
        kind, n, r, p, salt, key = encoded.split("$")
        if kind != "scrypt":
            return False
        want = _unb64(key)
        got = hashlib.scrypt(password.encode("utf-8"), salt=_unb64(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=SCRYPT_MAXMEM, dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when a name is unknown, so a wrong name costs as long as a wrong
    password."""
    return hash_password(secrets.token_urlsafe(12))


# control and format characters (bidirectional overrides, zero widths), line separators
INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def check_name(name: str) -> str:
    """``name`` if it can be a user name (1-128 characters, no control or invisible format
    characters, no surrounding spaces), else raise :class:`UserError`."""
    if not name or len(name) > MAX_NAME or name != name.strip():
        raise UserError(f"user name {name!r}: 1 to {MAX_NAME} characters without surrounding "
                        "spaces, please")
    if any(unicodedata.category(c) in INVISIBLE for c in name):
        raise UserError(f"user name {name!r} contains a control character")
    return name


def new_generation() -> str:
    return secrets.token_urlsafe(9)


def check_group(group: str) -> str:
    if not GROUP_RE.match(group or ""):
        raise UserError(f"group {group!r}: letters, digits, '_', '.' and '-' only, please")
    return group


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    password: str | None  # the scrypt hash; None: signs in only through OAuth
    generation: str = ""  # carried by the user's cookies; a new one revokes them


class Users:
    """The users of a users file, by name."""

    def __init__(self, users: dict[str, User] | None = None) -> None:
        self.users: dict[str, User] = dict(users or {})

    @classmethod
    def load(cls, path: str | os.PathLike, missing_ok: bool = False) -> Users:
        """Read ``path``; raise :class:`UserError` naming what is wrong with it."""
        path = Path(path)
        if not path.exists():
            if missing_ok:
                return cls()
            raise UserError(f"{path}: no such users file; create it with `attviz users add`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{path}: not a readable attviz users file ({e})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{path}: not an attviz users file (no \"format\": \"{FORMAT}\")")
        if data.get("version") != VERSION:
            raise UserError(f"{path}: users file version {data.get('version')!r}; this attviz "
                            f"reads version {VERSION}")
        users = {}
        for name, entry in (data.get("users") or {}).items():
            try:
                if not isinstance(entry, dict) or not isinstance(entry.get("groups"), list):
                    raise TypeError("'groups' must be a list of group names")
                groups = tuple(check_group(g) for g in entry["groups"])
                password = entry.get("password")
                if password is not None and not isinstance(password, str):
                    raise TypeError("password")
                generation = entry.get("generation", "")
                if not isinstance(generation, str):
                    raise TypeError("generation")
                users[check_name(name)] = User(name, groups, password, generation)
            except (KeyError, TypeError, UserError) as e:
                raise UserError(f"{path}: the entry of user {name!r} is malformed ({e})") from None
        return cls(users)

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` atomically (a temporary file beside it, renamed over it), readable
        by its owner only."""
        path = Path(path)
        data = {"format": FORMAT, "version": VERSION,
                "users": {u.name: {"groups": list(u.groups), "password": u.password,
                                   "generation": u.generation}
                          for u in sorted(self.users.values(), key=lambda u: u.name)}}
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, ensure_ascii=False)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def add(self, name: str, groups: list[str], password: str | None,
            update: bool = False) -> None:
        check_name(name)
        if not groups:
            raise UserError(f"user {name!r} needs at least one --group")
        for g in groups:
            check_group(g)
        if name in self.users and not update:
            raise UserError(f"user {name!r} exists already; pass --update to change their "
                            "password and groups")
        if password is not None and len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
        hashed = hash_password(password) if password is not None else None
        # a new generation: cookies issued before (to this name, even to a removed user of
        # the same name) no longer sign anybody in
        self.users[name] = User(name, tuple(dict.fromkeys(groups)), hashed, new_generation())

    def remove(self, name: str) -> None:
        if name not in self.users:
            raise UserError(f"no user {name!r} in the users file")
        del self.users[name]

    def revoke(self, name: str) -> None:
        """Give ``name`` a new generation: every cookie issued to them stops working."""
        if name in self.users:
            self.users[name] = replace(self.users[name], generation=new_generation())

    def check(self, name: str, password: str) -> User | None:
        """The user ``name`` if ``password`` is theirs, else None (in about the same time
        whether or not the name exists)."""
        user = self.users.get(name)
        if user is None or user.password is None:
            verify_password(password, _dummy_hash())
            return None
        return user if verify_password(password, user.password) else None

    def get(self, name: str | None) -> User | None:
        return self.users.get(name) if name else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on the folder of the users file ``path`` (no lock file is left
    behind; the file itself is replaced by each write, so it cannot hold the lock)."""
    fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def change_users(path: str | os.PathLike, change: Callable[[Users], None],
                 missing_ok: bool = False) -> Users:
    """Read the users file ``path``, apply ``change`` and write it back, holding its lock;
    the users as written. Nothing is written when ``change`` raises."""
    path = Path(path)
    with _locked(path):
        users = Users.load(path, missing_ok=missing_ok)
        change(users)
        users.save(path)
    return users


class UsersFile:
    """A users file as a running server sees it: read again whenever it changes on disk. When
    it is missing or unreadable nobody is a user (and the server log says why)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._stamp: tuple | None = None
        self._users = Users()

    def current(self) -> Users:
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._users = Users.load(self.path)
            except UserError as e:
                log.error("%s; nobody can sign in", e)
                self._users = Users()
        return self._users
