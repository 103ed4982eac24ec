"""Several forward passes at once on a CPU: batches in threads, torch's threads split.

On a CPU, attviz's extraction adds many small operators to each layer of a forward pass
(the per-query quantities), and Python between them; one pass runs those on one core while
its other threads wait. Two passes at once, each on half of torch's threads, overlap that
work with the other pass's. On a 2-core machine the forward passes with the extraction ran
3-6% faster in two streams of one thread than in one of two; a bare loop of forward passes
gained nothing (docs/benchmarks.md §2). A GPU gets one stream.

While the streams run, torch's process-wide thread count is divided among them; it is
restored when they end. The results of a batch do not depend on the stream that ran it
(each pass is independent; the model is only read), apart from the last bits of matrix
products that a different number of threads may block differently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

from ...errors import UserError

T = TypeVar("T")
R = TypeVar("R")

AUTO = "auto"


def resolve_streams(streams: str | int, device: torch.device) -> int:
    """``auto``: 2 on a CPU where torch has at least 2 threads, else 1; a number as given."""
    if streams == AUTO:
        return 2 if device.type == "cpu" and torch.get_num_threads() >= 2 else 1
    try:
        n = int(streams)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise UserError(f"--streams {streams}: give auto or a number of at least 1")
    if n > 1 and device.type != "cpu":
        raise UserError(f"--streams {streams}: several streams are for CPUs; on "
                        f"{device.type} use 1 (or auto)")
    return n


@contextmanager
def split_threads(streams: int) -> Iterator[None]:
    """torch's intra-op threads divided among ``streams`` (at least one each) inside the
    block, restored after it."""
    before = torch.get_num_threads()
    if streams > 1:
        torch.set_num_threads(max(1, before // streams))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def in_streams(fn: Callable[[T], R], items: Iterable[T], streams: int) -> Iterator[R]:
    """``fn(item)`` for every item, in order, ``streams`` at a time (one: in this thread).

    At most ``2 * streams`` items are started ahead of the one the caller waits for, so
    results do not pile up when the caller is slower than the streams."""
    if streams <= 1:
        yield from map(fn, items)
        return
    with split_threads(streams), ThreadPoolExecutor(streams, "attviz-stream") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > 2 * streams:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
