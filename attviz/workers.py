"""Pools of worker threads made when first used, one per process.

A pool copied into a process forked from the one that made it (`attviz serve --num-procs`)
has no threads there, yet counts them as idle, and would never run a task; so a process
that is not the pool's maker gets a pool of its own.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


class Workers:
    """``workers()``: this process's pool of ``size`` threads named ``name``-N."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # (its process, the pool)

    def __call__(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pool[0] != os.getpid():
            self._pool = (os.getpid(), ThreadPoolExecutor(max_workers=self.size,
                                                          thread_name_prefix=self.name))
        return self._pool[1]
