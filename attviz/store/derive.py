"""What a complete store derives from its rows: self-attention statistics per instance and
head, corpus profiles per group of instances, and the token index (docs/format.md, 1.1).

Everything here is computed from the stored (float16) diagonals, token ids and labels, so
`attviz index` gives an older store exactly what a precompute writes. Shapes use the
names of :mod:`attviz.dims`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import layout as L

CELL_LIMIT = 400  # more confusion cells than this: group by (gold, correct) instead
CELL, CORRECTNESS = "cell", "correctness"


# -- statistics per instance and head ---------------------------------------------------------
def self_statistics(attention: np.ndarray, special: np.ndarray, token_count: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """self_mean, self_max ([instances, layers, heads] float16) and self_argmax (int16).

    attention: [tokens, layers, heads]; special: [tokens] bool; token_count: [instances],
    each at least 1. Over each instance's non-special tokens, or all of them if it has none.
    Worked in blocks of about ``BLOCK_TOKENS`` tokens, each as [heads, tokens] float32 (exact
    for float16): reductions along contiguous memory are many times faster.
    """
    n = len(token_count)
    lh = attention.shape[1:]
    out = {"self_mean": np.zeros((n, *lh), np.float16), "self_max": np.zeros((n, *lh), np.float16),
           "self_argmax": np.zeros((n, *lh), np.int16)}
    ends = np.cumsum(token_count).astype(np.int64)
    starts = ends - token_count
    flat = attention.reshape(len(attention), -1)
    k = 0
    while k < n:  # a block: whole instances, about BLOCK_TOKENS tokens
        stop = max(k + 1, int(np.searchsorted(ends, starts[k] + BLOCK_TOKENS, side="right")))
        t0, t1 = int(starts[k]), int(ends[stop - 1])
        local = starts[k:stop] - t0
        counts = token_count[k:stop]
        inst = np.repeat(np.arange(stop - k), counts)
        sp = special[t0:t1]
        plain = np.bincount(inst, weights=~sp, minlength=stop - k)
        drop = sp & (plain[inst] > 0)  # left out of the statistics
        v = np.array(flat[t0:t1].T, dtype=np.float32, order="C")  # [heads, tokens], a copy
        v[:, drop] = 0.0
        sums = np.add.reduceat(v, local, axis=1)
        v[:, drop] = -np.inf
        top = np.maximum.reduceat(v, local, axis=1)
        pos = (np.arange(t1 - t0) - local[inst]).astype(np.int32)
        first = np.where(v == top[:, inst], pos, np.iinfo(np.int32).max)
        n_used = np.where(plain > 0, plain, counts)
        out["self_mean"][k:stop] = (sums / n_used).T.reshape(-1, *lh)
        out["self_max"][k:stop] = top.T.reshape(-1, *lh)
        out["self_argmax"][k:stop] = np.minimum.reduceat(first, local, axis=1).T.reshape(-1, *lh)
        k = stop
    return out


BLOCK_TOKENS = 1 << 16


# -- groups ----------------------------------------------------------------------------------
def grouping_for(n_classes: int) -> str:
    return CELL if n_classes * n_classes <= CELL_LIMIT else CORRECTNESS


def group_keys(label: np.ndarray, prediction: np.ndarray, grouping: str) -> np.ndarray:
    """[instances, key] int16: (gold, predicted) per instance, or (gold, correct 0/1) when
    grouping by correctness; unlabelled instances (gold -1) are grouped by prediction."""
    label = np.asarray(label, dtype=np.int16)
    prediction = np.asarray(prediction, dtype=np.int16)
    second = prediction.copy()
    if grouping == CORRECTNESS:
        known = label >= 0
        second[known] = (label[known] == prediction[known]).astype(np.int16)
    return np.stack([label, second], axis=1)


def sum_by(keys: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """out[k] += the sum (float64) of the rows of ``values`` whose key is k; in blocks of
    rows. Where torch is loaded already (a precompute), its ``index_add_`` adds the rows
    (~7x faster); else each block is sorted by key and reduced as [columns, rows]
    (contiguous: fast). Both are exact for float16 values of moderate sums (every float16
    is a multiple of 2^-24, so their float64 sums round nothing), whatever the order."""
    flat = values.reshape(len(values), -1)
    target = out.reshape(len(out), -1)
    torch = sys.modules.get("torch")
    if not (target.flags.c_contiguous and target.dtype == np.float64):
        torch = None  # index_add_ writes into the array itself: it must be one float64 block
    for a in range(0, len(keys), BLOCK_TOKENS):
        k = keys[a : a + BLOCK_TOKENS]
        if torch is not None:
            rows = torch.from_numpy(np.ascontiguousarray(flat[a : a + BLOCK_TOKENS]))
            torch.from_numpy(target).index_add_(
                0, torch.from_numpy(k.astype(np.int64, copy=False)), rows.double())
            continue
        order = np.argsort(k, kind="stable")
        k = k[order]
        starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
        v = np.ascontiguousarray(flat[a : a + BLOCK_TOKENS][order].T)
        target[k[starts]] += np.add.reduceat(v, starts, axis=1, dtype=np.float64).T


class _Slots:
    """Dense slot numbers for sparse integer codes, in order of first appearance."""

    def __init__(self) -> None:
        self.of = np.full(1024, -1, dtype=np.int64)
        self.codes = np.zeros(0, dtype=np.int64)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        if len(codes) and codes.max() >= len(self.of):
            grown = np.full(max(int(codes.max()) + 1, 2 * len(self.of)), -1, dtype=np.int64)
            grown[: len(self.of)] = self.of
            self.of = grown
        new = np.unique(codes[self.of[codes] < 0])
        self.of[new] = len(self.codes) + np.arange(len(new))
        self.codes = np.concatenate([self.codes, new])
        return self.of[codes]

    def __len__(self) -> int:
        return len(self.codes)


def _grow(a: np.ndarray, rows: int, axis: int = 0) -> np.ndarray:
    if a.shape[axis] >= rows:
        return a
    shape = list(a.shape)
    shape[axis] = max(rows, 2 * a.shape[axis])
    out = np.zeros(shape, dtype=a.dtype)
    out[tuple(slice(0, s) for s in a.shape)] = a
    return out


class Profiles:
    """Sums and counts per group of instances, fed part by part, for exact corpus profiles.

    Per group: instances, the sum of every statistic per head, and per (token position,
    layer, head) and per (token id, layer, head) the sum and count of self-attention.
    """

    def __init__(self, n_classes: int, num_layers: int, num_heads: int, vocab_size: int) -> None:
        self.grouping = grouping_for(n_classes)
        self.width = max(n_classes, 2)  # codes: (gold + 1) * width + second
        self.vocab = max(1, vocab_size)
        self.lh = (num_layers, num_heads)
        self.groups = _Slots()
        self.entries = _Slots()  # code: group slot * vocab + token id
        self.count = np.zeros(0, np.int64)
        self.head_sums: dict[str, np.ndarray] = {}
        self.pos_sum = np.zeros((0, 0, *self.lh))
        self.pos_count = np.zeros((0, 0), np.int64)
        self.tok_sum = np.zeros((0, *self.lh))
        self.tok_count = np.zeros(0, np.int64)

    def add(self, label, prediction, token_count, token_id, attention, stats: dict) -> None:
        """One part: [instances] label, prediction, token_count; [tokens] token_id;
        [tokens, layers, heads] attention (None: its sums come from :meth:`add_sums`);
        stats: name -> [instances, layers, heads]."""
        keys = group_keys(label, prediction, self.grouping).astype(np.int64)
        slot = self.groups((keys[:, 0] + 1) * self.width + keys[:, 1])
        g = len(self.groups)
        self.count = _grow(self.count, g)
        np.add.at(self.count, slot, 1)
        for name, values in stats.items():
            if name not in self.head_sums:
                self.head_sums[name] = np.zeros((0, *self.lh))
            self.head_sums[name] = _grow(self.head_sums[name], g)
            sum_by(slot, values, self.head_sums[name])
        if attention is not None:
            self._add_attention(slot, token_count, token_id, attention)

    def _grow_positions(self, positions: int) -> None:
        g = len(self.groups)
        p = max(self.pos_count.shape[1], positions)
        self.pos_sum = _grow(_grow(self.pos_sum, g), p, axis=1)
        self.pos_count = _grow(_grow(self.pos_count, g), p, axis=1)

    def _add_attention(self, slot, token_count, token_id, attention) -> None:
        self._grow_positions(int(token_count.max()) if len(token_count) else 0)
        starts = np.concatenate([[0], np.cumsum(token_count)[:-1]]).astype(np.int64)
        inst = np.repeat(np.arange(len(token_count)), token_count)
        tslot = slot[inst]
        pos = np.arange(len(inst)) - starts[inst]
        width = self.pos_sum.shape[1]
        sum_by(tslot * width + pos, attention, self.pos_sum.reshape(-1, *self.lh))
        self.pos_count.reshape(-1)[:] += np.bincount(
            tslot * width + pos, minlength=self.pos_count.size)
        ids = token_id.astype(np.int64)
        known = (ids >= 0) & (ids < self.vocab)  # ids outside the vocabulary are left out
        entry = self.entries(tslot[known] * self.vocab + ids[known])
        self.tok_sum = _grow(self.tok_sum, len(self.entries))
        self.tok_count = _grow(self.tok_count, len(self.entries))
        sum_by(entry, attention[known], self.tok_sum)
        self.tok_count[: len(self.entries)] += np.bincount(entry, minlength=len(self.entries))

    def sums(self) -> ProfileSums:
        """The position and token sums fed so far (groups in the order first seen)."""
        g, e, p = len(self.groups), len(self.entries), self.pos_count.shape[1]
        codes = self.groups.codes
        key = np.stack([codes // self.width - 1, codes % self.width], axis=1).astype(np.int16)
        return ProfileSums(
            key=key, position_sum=self.pos_sum[:g, :p].astype(np.float32),
            position_count=self.pos_count[:g, :p].copy(),
            entry_group=(self.entries.codes // self.vocab).astype(np.int64),
            entry_id=(self.entries.codes % self.vocab).astype(np.int32),
            token_sum=self.tok_sum[:e].astype(np.float32), token_count=self.tok_count[:e].copy())

    def add_sums(self, sums: ProfileSums) -> None:
        """Add position and token sums made elsewhere (e.g. by a precompute block from the
        diagonals of every layer, where the store keeps only some)."""
        keys = sums.key.astype(np.int64)
        slot = self.groups((keys[:, 0] + 1) * self.width + keys[:, 1])
        g = len(self.groups)
        self.count = _grow(self.count, g)
        for name in self.head_sums:
            self.head_sums[name] = _grow(self.head_sums[name], g)
        self._grow_positions(sums.position_count.shape[1])
        p = sums.position_count.shape[1]
        self.pos_sum[slot, :p] += sums.position_sum
        self.pos_count[slot, :p] += sums.position_count
        entry = self.entries(slot[sums.entry_group] * self.vocab + sums.entry_id)
        self.tok_sum = _grow(self.tok_sum, len(self.entries))
        self.tok_count = _grow(self.tok_count, len(self.entries))
        np.add.at(self.tok_sum, entry, sums.token_sum)
        np.add.at(self.tok_count, entry, sums.token_count)

    def tables(self) -> dict[str, np.ndarray]:
        """The profile datasets by HDF5 path, groups in ascending key order."""
        g = len(self.groups)
        order = np.argsort(self.groups.codes)  # slot numbers in key order
        rank = np.empty(g, np.int64)
        rank[order] = np.arange(g)
        codes = self.groups.codes[order]
        key = np.stack([codes // self.width - 1, codes % self.width], axis=1).astype(np.int16)
        seen = np.flatnonzero(self.pos_count[:g].any(axis=0))
        p = int(seen[-1]) + 1 if len(seen) else 0
        out = {
            L.GROUP_KEY: key,
            L.GROUP_COUNT: self.count[:g][order],
            L.POSITION_MEAN: _mean(self.pos_sum[:g, :p][order], self.pos_count[:g, :p][order]),
            L.POSITION_COUNT: self.pos_count[:g, :p][order],
        }
        for name, sums in self.head_sums.items():
            out[f"{L.GROUP_HEAD_SUM}/{name}"] = sums[:g][order]
        e = len(self.entries)
        egroup = rank[self.entries.codes // self.vocab]
        eid = self.entries.codes % self.vocab
        eorder = np.lexsort((eid, egroup))
        out[L.TOKEN_GROUP_START] = np.concatenate(
            [[0], np.cumsum(np.bincount(egroup, minlength=g))]).astype(np.int64)
        out[L.TOKEN_PROFILE_ID] = eid[eorder].astype(np.int32)
        out[L.TOKEN_MEAN] = _mean(self.tok_sum[:e][eorder], self.tok_count[:e][eorder])
        out[L.TOKEN_COUNT] = self.tok_count[:e][eorder]
        return out


@dataclass
class ProfileSums:
    """Sums of the self-attention of every layer by group, from some instances.

    key: [groups, key] int16, as :func:`group_keys`; position_sum: [groups, positions,
    layers, heads] float32 and position_count: [groups, positions]; per (group, token id)
    entry: entry_group ([entries], a row of key), entry_id, token_sum ([entries, layers,
    heads] float32) and token_count.
    """

    key: np.ndarray
    position_sum: np.ndarray
    position_count: np.ndarray
    entry_group: np.ndarray
    entry_id: np.ndarray
    token_sum: np.ndarray
    token_count: np.ndarray

    FIELDS = ("key", "position_sum", "position_count", "entry_group", "entry_id", "token_sum",
              "token_count")


def _mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """sums [n, ..., layers, heads] / counts [n, ...] as float16 (0 where nothing counted)."""
    c = counts.reshape(*counts.shape, 1, 1)
    return np.where(c > 0, sums / np.maximum(c, 1), 0.0).astype(np.float16)


# -- token index ------------------------------------------------------------------------------
def token_index(read_ids: Callable[[int, int], np.ndarray], token_start: np.ndarray,
                vocab_size: int, step: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """(offsets [vocab + 1] int64, instances [postings]): the sorted instances that hold
    each token id, each once. ``read_ids(t0, t1)`` reads token ids t0:t1; two passes over
    them, ``step`` instances at a time, so memory stays at the size of the result."""
    n = len(token_start) - 1
    dtype = np.uint32 if n < 2**32 else np.int64

    def pairs(a: int, b: int) -> np.ndarray:
        t0, t1 = int(token_start[a]), int(token_start[b])
        ids = read_ids(t0, t1).astype(np.int64)
        inst = np.repeat(np.arange(a, b, dtype=np.int64), np.diff(token_start[a : b + 1]))
        known = (ids >= 0) & (ids < vocab_size)  # ids outside the vocabulary are not indexed
        codes = np.sort(ids[known] * n + inst[known])  # by id, then instance
        return codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if len(codes) else codes

    counts = np.zeros(vocab_size, np.int64)
    for a in range(0, n, step):
        u = pairs(a, min(n, a + step))
        counts += np.bincount(u // n, minlength=vocab_size)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out = np.zeros(int(offsets[-1]), dtype=dtype)
    filled = offsets[:-1].copy()
    for a in range(0, n, step):
        u = pairs(a, min(n, a + step))
        ids, inst = u // n, u % n
        if not len(u):
            continue
        run = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        size = np.diff(np.concatenate([run, [len(u)]]))
        out[filled[ids] + np.arange(len(u)) - np.repeat(run, size)] = inst
        filled[ids[run]] += size
    return offsets, out


# -- where each token occurs (1.2) ------------------------------------------------------------
OCCURRENCE_BUDGET = 1 << 25  # occurrences gathered in memory at a time (128 MiB of uint32)
ID_STEP = 1 << 22  # token ids read at a time


def occurrence_dtype(n_tokens: int) -> np.dtype:
    """uint32 token rows, int64 in stores of 2^32 tokens or more."""
    return np.dtype(np.uint32 if n_tokens < 2**32 else np.int64)


def occurrence_index(read_ids: Callable[[int, int], np.ndarray], n_tokens: int,
                     vocab_size: int, budget: int = OCCURRENCE_BUDGET, step: int = ID_STEP):
    """(offsets [vocab + 1] int64, pieces): the ascending token rows that hold each token id,
    grouped by id (ids outside the vocabulary are left out). ``pieces`` yields (start,
    rows), entries start:start + len(rows) of the whole, in order: the rows of a range of
    ids at most ``budget`` long (or of one id), each from one more pass over the token ids
    (``read_ids(t0, t1)``, ``step`` at a time), so memory stays at ``budget`` entries."""
    counts = np.zeros(vocab_size, np.int64)
    for t0 in range(0, n_tokens, step):
        ids = np.asarray(read_ids(t0, min(n_tokens, t0 + step)), np.int64)
        counts += np.bincount(ids[(ids >= 0) & (ids < vocab_size)], minlength=vocab_size)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, _occurrence_pieces(read_ids, n_tokens, offsets, budget, step)


def _occurrence_pieces(read_ids, n_tokens: int, offsets: np.ndarray, budget: int, step: int):
    vocab, v0 = len(offsets) - 1, 0
    while True:
        v1 = min(vocab, max(v0 + 1, int(np.searchsorted(offsets, offsets[v0] + budget,
                                                          "right")) - 1))
        out = np.empty(int(offsets[v1] - offsets[v0]), occurrence_dtype(n_tokens))
        filled = offsets[v0:v1] - offsets[v0]  # the next free entry of each id
        for t0 in range(0, n_tokens, step):
            ids = np.asarray(read_ids(t0, min(n_tokens, t0 + step)), np.int64)
            rows = np.flatnonzero((ids >= v0) & (ids < v1))
            local = ids[rows] - v0
            # stable: each id's rows stay ascending (a radix sort for 16-bit keys)
            order = np.argsort(local.astype(np.uint16) if v1 - v0 <= 1 << 16 else local,
                               kind="stable")
            local, rows = local[order], rows[order] + t0
            if not len(local):
                continue
            run = np.flatnonzero(np.concatenate([[True], local[1:] != local[:-1]]))
            size = np.diff(np.concatenate([run, [len(local)]]))
            out[filled[local] + np.arange(len(local)) - np.repeat(run, size)] = rows
            filled[local[run]] += size
        yield int(offsets[v0]), out
        if v1 >= vocab:
            return
        v0 = v1
