"""A run's blocks one after another, their tokenising and their block files beside them.

Where the forward passes leave the CPU free (on a GPU: ``beside``), block b+1 is tokenised
in a background thread while block b runs through the model, and a finished block's file
is written in another while the next block runs, so a block waits for neither. At most
one block waits to be written: a block file still appears whole or not at all
(``partial.write_block``), and whatever stops the run waits for the block being written,
so every finished block is on disk for the next run. On a CPU the streams keep every core
busy, and the same work in threads was only moved, not removed (docs/benchmarks.md §2):
there both run in the calling thread, in the same order.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..store import Part, Store, StoreMeta
from .corpus import Corpus
from .extract.block import CHARS_PER_TOKEN, compute_block
from .partial import block_path, write_block
from .windows import Segments, segment_documents


def beside(device) -> bool:
    """Whether a run on ``device`` tokenises and writes its blocks in background threads."""
    return getattr(device, "type", str(device)) != "cpu"


class Tokenised:
    """The windows of ``blocks`` (block numbers, in the order they will be asked for),
    each tokenised in a background thread one block ahead of the one asked for.

    ``texts``: the corpus's texts; ``starts``: [blocks + 1] first document of each block;
    without ``background``, each block is tokenised when asked for, in the caller's thread.
    Use as a context manager (``close`` stops the thread; a block being tokenised
    finishes first). The thread uses ``tokenizer`` alone while this is open: a fast
    tokenizer is borrowed mutably when its truncation is set, which fails while another
    thread uses it."""

    def __init__(self, tokenizer, texts: Sequence[str], starts, blocks: Sequence[int],
                 max_length: int, stride: int = 0, background: bool = True):
        self._tokenizer = tokenizer
        self._texts, self._starts = texts, starts
        self._blocks = list(blocks)
        self._window = (max_length, stride)
        self._pool = ThreadPoolExecutor(1, "attviz-tokenise") if background else None
        self._futures: dict[int, Future] = {}
        self._next = 0  # index into _blocks of the next block to start
        self._start_next()

    def _texts_of(self, block: int) -> Sequence[str]:
        return self._texts[int(self._starts[block]) : int(self._starts[block + 1])]

    def _start_next(self) -> None:
        if self._pool is not None and self._next < len(self._blocks):
            b = self._blocks[self._next]
            self._futures[b] = self._pool.submit(
                segment_documents, self._tokenizer, self._texts_of(b), *self._window)
            self._next += 1

    def get(self, block: int) -> Segments:
        """Block ``block``'s windows (waiting for them); the next block starts tokenising."""
        if block not in (self._blocks if self._pool is None else self._futures):
            raise KeyError(f"block {block} is not one of this run's blocks to tokenise")
        if self._pool is None:
            return segment_documents(self._tokenizer, self._texts_of(block), *self._window)
        future = self._futures.pop(block)
        self._start_next()
        return future.result()

    def close(self) -> None:
        for f in self._futures.values():
            f.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Tokenised:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Writes:
    """Block files written in a background thread, one at a time; ``submit`` waits for
    the block before (so at most one finished block is held in memory besides the one
    computing) and raises its error, ``wait`` waits for the last. Without ``background``
    ``submit`` writes the block itself."""

    def __init__(self, background: bool = True):
        self._pool = ThreadPoolExecutor(1, "attviz-write") if background else None
        self._pending: Future | None = None

    def submit(self, path: Path, meta: StoreMeta, part: Part, precision: int) -> None:
        self.wait()
        if self._pool is None:
            write_block(path, meta, part, precision)
        else:
            self._pending = self._pool.submit(write_block, path, meta, part, precision)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, quiet: bool = False) -> None:
        """Wait for the block being written (whatever else failed, it is kept); ``quiet``
        (another error is on its way out): a failed write is reported, not raised."""
        try:
            self.wait()
        except Exception as e:
            if not quiet:
                raise
            print(f"attviz: a block file could not be written: {e}", file=sys.stderr,
                  flush=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


@dataclass
class Tally:
    """What a store holds, counted from the parts assembled into it (``add`` each)."""

    instances: int = 0
    documents: int = 0
    labelled: int = 0
    correct: int = 0

    def add(self, part: Part) -> None:
        self.instances += part.n_instances
        self.documents += len(part.document_ids)
        self.labelled += int((part.label >= 0).sum())
        self.correct += int(part.correct.sum())

    @property
    def accuracy(self) -> float | None:
        """Of the instances with a gold label; None without any."""
        return self.correct / self.labelled if self.labelled else None


@dataclass
class Blocks:
    """The blocks of this run (``mine``, a range of block numbers) and their progress;
    ``background``: tokenised and written in background threads (``beside``)."""

    cfg: object  # job.PrecomputeConfig
    corpus: Corpus
    labels: object
    starts: object  # [blocks + 1] first document of each block
    mine: range
    partial: Path
    background: bool = False

    def chars(self, lo: int, hi: int) -> int:
        return sum(len(t) for t in self.corpus.texts[lo:hi])

    def to_compute(self, done: set[int]) -> list[int]:
        return [b for b in self.mine if b not in done]

    def tokenised(self, tokenizer, done: set[int]) -> Tokenised:
        """The blocks to compute, tokenised (in the background: ahead, starting at once)."""
        return Tokenised(tokenizer, self.corpus.texts, self.starts, self.to_compute(done),
                         self.cfg.max_length, self.cfg.stride, self.background)

    def compute(self, done: set[int], vocab_size: int, tokenised: Tokenised, extractor,
                meta: StoreMeta, progress: bool,
                before_block: Callable[[Path, int], None] | None = None) -> None:
        """Compute and write every block not ``done``, with a progress bar in instances
        (``vocab_size``: the tokenizer's, which ``tokenised`` alone uses meanwhile).
        ``before_block(partial folder, b)``: called before block b is computed, once the
        blocks before it are on disk."""
        from tqdm.auto import tqdm

        cfg, starts, mine = self.cfg, self.starts, self.mine
        layers = None if meta.all_layers else tuple(meta.layers)
        settings = dataclasses.replace(cfg.blocks, layers=layers)
        lo, hi = (int(starts[mine.start]), int(starts[mine.stop])) if len(mine) else (0, 0)
        total_chars = self.chars(lo, hi) or 1
        est_total = max(1, math.ceil(total_chars / (CHARS_PER_TOKEN * cfg.max_length)))
        bar = tqdm(total=est_total, unit="inst", desc="precompute", disable=not progress,
                   mininterval=0.5 if sys.stderr.isatty() else 10, dynamic_ncols=True)
        done_chars = done_instances = 0
        writes = Writes(self.background)
        try:
            for b in mine:
                d0, d1 = int(starts[b]), int(starts[b + 1])
                if b in done:
                    with Store(block_path(self.partial, b), fragment=True) as s:
                        n = s.n_instances
                else:
                    if before_block is not None:
                        writes.wait()
                        before_block(self.partial, b)
                    part = compute_block(self.corpus, self.labels, d0, d1, None, extractor,
                                         settings, tokenised.get(b), vocab_size)
                    writes.submit(block_path(self.partial, b), meta, part, cfg.precision)
                    n = part.n_instances
                done_chars += self.chars(d0, d1)
                done_instances += n
                # Refine the estimate of the total from what the tokenizer actually produced.
                bar.total = max(done_instances,
                                round(done_instances * total_chars / max(1, done_chars)))
                bar.update(n)
        except BaseException:
            writes.close(quiet=True)  # the error that stopped the run is the one raised
            raise
        else:
            writes.close()
        finally:
            bar.close()
