"""One block of a corpus through the model: which documents form it, and its instances.

Documents are grouped in corpus order into blocks of about ``block_size`` instances,
estimated from text length (no tokenizer needed, so every process plans the same blocks);
shard ``i`` of ``n`` takes a contiguous range of blocks. A block's documents are tokenised
into windows, run through the extractor in length-sorted batches and put back into corpus
order. ``attviz precompute`` writes each block to the store; ``attviz finetune`` scores its
held-out documents through the same blocks, so both report the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from ...store import Part, StringArray, codec
from ...store import layout as L
from ...store.derive import Profiles, self_statistics
from ..corpus import Corpus
from ..windows import Segments, segment_documents

CHARS_PER_TOKEN = 4  # for block sizing only; blocks need not be exact
BATCH_SIZE = 16
BLOCK_SIZE = 512


@dataclass(frozen=True)
class BlockSettings:
    """What a block's numbers depend on besides model and corpus.

    max_length: tokens per window (special tokens included); stride: tokens shared by
    consecutive windows of a document; batch_size: instances per forward pass;
    block_size: about this many instances per block; layers: the model layer numbers whose
    diagonals are stored (None: every layer); precision: 16 (float16) or 8 (log8 codes).
    """

    max_length: int
    stride: int = 0
    batch_size: int = BATCH_SIZE
    block_size: int = BLOCK_SIZE
    layers: tuple[int, ...] | None = None
    precision: int = 16


def plan_blocks(texts: list[str], block_size: int, max_length: int) -> np.ndarray:
    """[blocks + 1] document offsets: block b holds documents starts[b]:starts[b+1]."""
    est = 1 + np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts)) // (
        CHARS_PER_TOKEN * max(1, max_length))
    starts = [0]
    acc = 0
    for i, e in enumerate(est):
        acc += int(e)
        if acc >= block_size and i + 1 < len(texts):
            starts.append(i + 1)
            acc = 0
    starts.append(len(texts))
    return np.asarray(starts if len(texts) else [0], dtype=np.int64)


def shard_blocks(n_blocks: int, shard: int, shards: int) -> range:
    """The contiguous range of blocks that shard ``shard`` of ``shards`` processes."""
    lo = (shard * n_blocks) // shards
    hi = ((shard + 1) * n_blocks) // shards
    return range(lo, hi)


def compute_block(corpus: Corpus, labels: np.ndarray, d0: int, d1: int, tokenizer,
                  extractor, settings: BlockSettings, segments: Segments | None = None,
                  vocab_size: int | None = None) -> Part:
    """Instances of documents d0:d1: batches in length order, results in corpus order.

    labels: [documents] class indices of the corpus (-1 unknown); extractor: an
    ``attviz.precompute.extract.Extractor`` (its batches run in its streams). The
    statistics per head come from the float16 diagonals of every layer; the stored layers
    are kept as ``settings`` says (8-bit codes made from the float32 values). With some
    layers stored, the part brings the profile sums of every layer (``profile_sums``).
    Its ``labels=`` are the gold labels of a batch, for head importance. ``segments``: the
    documents' windows when tokenised already (else they are tokenised here);
    ``vocab_size``: ``len(tokenizer)`` when known (the tokenizer is then not used).
    """
    seg = segments if segments is not None else segment_documents(
        tokenizer, corpus.texts[d0:d1], settings.max_length, settings.stride)
    n = len(seg)
    lengths = seg.lengths
    gold = labels[d0:d1][seg.document]  # [instances] class index, -1 unknown
    order = np.argsort(lengths, kind="stable")
    probs = np.zeros((n, len(extractor.model.config.id2label)), dtype=np.float32)
    att: list[np.ndarray | None] = [None] * n
    stats: dict[str, np.ndarray] = {}  # name -> [instances, layers, heads]
    sums = None
    if settings.layers is not None:
        vocab = vocab_size if vocab_size is not None else len(tokenizer)
        sums = Profiles(probs.shape[1], extractor.num_layers, extractor.num_heads, vocab)
    # the longest batches first: the last one, which a stream runs alone, is the shortest
    batches = [order[s : s + settings.batch_size] for s in range(0, n, settings.batch_size)][::-1]
    with closing(extractor.map(([seg.input_ids[i] for i in b], gold[b]) for b in batches)
                 ) as results:
        for batch, res in zip(batches, results):
            probs[batch] = res.probabilities
            # what the statistics are of (C order: the results are views of a permuted tensor)
            full = [np.ascontiguousarray(a, dtype=np.float16) for a in res.attention]
            joined = np.concatenate(full).astype(np.float32)
            found = self_statistics(joined, np.concatenate([seg.special[i] for i in batch]),
                                    lengths[batch])
            for name, values in {**res.stats, **found}.items():
                if name not in stats:
                    dtype = np.int16 if name == "self_argmax" else np.float16
                    stats[name] = np.zeros((n, *values.shape[1:]), dtype)
                stats[name][batch] = values
            if sums is not None:
                sums.add(gold[batch], res.probabilities.argmax(axis=1), lengths[batch],
                         np.concatenate([seg.input_ids[i] for i in batch]), joined, {})
            for i, a in zip(batch, _stored(res.attention, full, settings)):
                att[i] = a
    stored = len(settings.layers) if settings.layers is not None else extractor.num_layers
    return Part(
        token_count=lengths,
        label=gold,
        prediction=probs.argmax(axis=1),
        probabilities=probs,
        document=seg.document,
        segment=seg.segment,
        text=StringArray.from_list(seg.text),
        attention=(np.concatenate(att) if n
                   else np.zeros((0, stored, extractor.num_heads), np.float16)),
        token_id=np.concatenate(seg.input_ids) if n else np.zeros(0),
        span=np.concatenate(seg.spans) if n else np.zeros((0, 2)),
        special=np.concatenate(seg.special) if n else np.zeros(0, bool),
        document_ids=StringArray.from_list(corpus.ids[d0:d1]),
        document_row=corpus.rows[d0:d1],
        profile_sums=sums.sums() if sums is not None else None,
        **{k: v for k, v in stats.items() if k in L.HEAD_STAT_NAMES},
    )


def _stored(values: list[np.ndarray], halves: list[np.ndarray], settings: BlockSettings
            ) -> list[np.ndarray]:
    """A batch's diagonals (per instance [tokens, layers, heads], float32 and float16) as
    stored: the chosen layers, float16 or 8-bit codes (encoded for the batch at once)."""
    if settings.layers is not None:
        values = [v[:, settings.layers] for v in values]
        halves = [h[:, settings.layers] for h in halves]
    if settings.precision != 8:
        return halves
    codes = codec.encode_log8(np.concatenate(values))
    return np.split(codes, np.cumsum([len(v) for v in values])[:-1])


def predict(corpus: Corpus, labels: np.ndarray, tokenizer, extractor,
            settings: BlockSettings) -> Iterator[Part]:
    """Parts of the whole corpus, block by block, as a precompute with ``settings`` makes them."""
    starts = plan_blocks(corpus.texts, settings.block_size, settings.max_length)
    for b in range(len(starts) - 1):
        yield compute_block(corpus, labels, int(starts[b]), int(starts[b + 1]), tokenizer,
                            extractor, settings)
