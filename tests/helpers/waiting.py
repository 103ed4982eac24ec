"""Waiting for a condition, never for a fixed time."""

from __future__ import annotations

import asyncio
import time


def until(condition, what: str, timeout: float = 20, on_fail=None) -> None:
    """Wait until ``condition()`` holds (checked every 0.05 s); fail after ``timeout`` s,
    saying what ``on_fail()`` returns then."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            seen = f"; last seen: {on_fail()!r}" if on_fail else ""
            raise AssertionError(f"not within {timeout} s: {what}{seen}")
        time.sleep(0.05)


async def until_async(condition, what: str, timeout: float = 20, on_fail=None) -> None:
    """:func:`until` inside an event loop: its other tasks run while this one waits."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            seen = f"; last seen: {on_fail()!r}" if on_fail else ""
            raise AssertionError(f"not within {timeout} s: {what}{seen}")
        await asyncio.sleep(0.05)
