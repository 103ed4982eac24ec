"""The sign-in throttle: failed sign-ins counted per user name and per address, in memory
bounded whatever strangers send.

A key is a 16-byte digest of its kind and value (a 1 MiB name costs what a short one does);
each key keeps the times of its last ``MAX_FAILURES`` failures; at most ``MAX_KEYS`` keys are
kept, the one whose last failure is oldest forgotten first. A key with ``MAX_FAILURES``
failures within ``FAILURE_WINDOW`` seconds is blocked until the oldest of them is that old.
Only failures create keys: checking whether a key is blocked stores nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict, deque

MAX_FAILURES = 10
FAILURE_WINDOW = 300.0
MAX_KEYS = 8192  # about 1 KiB each: at most ~8 MiB


def key(kind: str, value: str) -> bytes:
    """The key of ``value`` (a user name, an address) of ``kind``."""
    data = f"{kind}\x00{value}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()


class Failures:
    """Recent failed sign-ins by key (see :func:`key`)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._times: OrderedDict[bytes, deque] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def _count(self, k: bytes, now: float) -> int:
        times = self._times.get(k)
        if times is None:
            return 0
        while times and now - times[0] > FAILURE_WINDOW:
            times.popleft()
        if not times:
            del self._times[k]
            return 0
        return len(times)

    def blocked(self, *keys: bytes) -> bool:
        now = time.monotonic()
        return any(self._count(k, now) >= MAX_FAILURES for k in keys)

    def add(self, *keys: bytes) -> None:
        now = time.monotonic()
        for k in keys:
            times = self._times.pop(k, None)
            if times is None:
                times = deque(maxlen=MAX_FAILURES)
            times.append(now)
            self._times[k] = times  # the most recent failure last
        while len(self._times) > self.max_keys:
            self._times.popitem(last=False)

    def clear(self, k: bytes) -> None:
        self._times.pop(k, None)
