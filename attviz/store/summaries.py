"""Reading what a store derives (statistics per head, corpus profiles, the token index),
and combining the profiles of several shard stores into one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import layout as L


@dataclass
class ProfileTables:
    """A store's corpus profiles (docs/format.md), groups in ascending key order.

    key: [groups, key] int16; count: [groups] instances; head_sums: statistic name ->
    [groups, layers, heads] float64; position_sum: [groups, positions, layers, heads];
    position_count: [groups, positions]; token_start: [groups + 1] CSR offsets into
    token_id: [entries] (ascending per group), token_sum: [entries, layers, heads] and
    token_count: [entries]. Sums are float64, from the stored float16 means times counts.
    """

    grouping: str
    key: np.ndarray
    count: np.ndarray
    head_sums: dict[str, np.ndarray]
    position_sum: np.ndarray
    position_count: np.ndarray
    token_start: np.ndarray
    token_id: np.ndarray
    token_sum: np.ndarray
    token_count: np.ndarray

    @classmethod
    def read(cls, read, names: list[str], grouping: str) -> ProfileTables:
        """From a store file: ``read(path)`` reads a dataset whole; ``names``: the
        statistics whose group sums the file holds."""
        pos_count, tok_count = read(L.POSITION_COUNT), read(L.TOKEN_COUNT)
        return cls(
            grouping=grouping, key=read(L.GROUP_KEY), count=read(L.GROUP_COUNT),
            head_sums={n: read(f"{L.GROUP_HEAD_SUM}/{n}") for n in names},
            position_sum=_sums(read(L.POSITION_MEAN), pos_count),
            position_count=pos_count,
            token_start=read(L.TOKEN_GROUP_START), token_id=read(L.TOKEN_PROFILE_ID),
            token_sum=_sums(read(L.TOKEN_MEAN), tok_count), token_count=tok_count,
        )

    @classmethod
    def combine(cls, tables: list[ProfileTables]) -> ProfileTables:
        """The profiles of stores side by side: sums and counts added group by group."""
        if len(tables) == 1:
            return tables[0]
        if len({t.grouping for t in tables}) != 1:
            raise ValueError("the stores group their instances differently")
        keys = np.unique(np.concatenate([t.key for t in tables]), axis=0)
        index = {tuple(k): i for i, k in enumerate(keys.tolist())}
        lh = tables[0].position_sum.shape[2:]
        p = max(t.position_count.shape[1] for t in tables)
        count = np.zeros(len(keys), np.int64)
        pos_sum = np.zeros((len(keys), p, *lh))
        pos_count = np.zeros((len(keys), p), np.int64)
        names = set.intersection(*(set(t.head_sums) for t in tables))
        head = {n: np.zeros((len(keys), *lh)) for n in names}
        ids, groups, sums, counts = [], [], [], []
        for t in tables:
            rows = np.array([index[tuple(k)] for k in t.key.tolist()], dtype=np.int64)
            tp = t.position_count.shape[1]
            count[rows] += t.count
            pos_sum[rows, :tp] += t.position_sum
            pos_count[rows, :tp] += t.position_count
            for n in names:
                head[n][rows] += t.head_sums[n]
            groups.append(np.repeat(rows, np.diff(t.token_start)))
            ids.append(t.token_id.astype(np.int64))
            sums.append(t.token_sum)
            counts.append(t.token_count)
        group, tid = np.concatenate(groups), np.concatenate(ids)
        order = np.lexsort((tid, group))
        group, tid = group[order], tid[order]
        first = np.flatnonzero(np.concatenate([[True], (group[1:] != group[:-1])
                                               | (tid[1:] != tid[:-1])]))
        token_sum = np.add.reduceat(np.concatenate(sums)[order], first, axis=0)
        token_count = np.add.reduceat(np.concatenate(counts)[order], first)
        start = np.concatenate([[0], np.cumsum(np.bincount(group[first], minlength=len(keys)))])
        return cls(tables[0].grouping, keys.astype(np.int16), count, head,
                   pos_sum, pos_count, start.astype(np.int64), tid[first].astype(np.int32),
                   token_sum, token_count)

    def group_of(self, keys: np.ndarray) -> np.ndarray:
        """[instances] the group of each instance's key ([instances, key]); -1 for a key
        without a group here."""
        width = int(max(self.key.max(initial=0), keys.max(initial=0))) + 2
        codes = (self.key[:, 0].astype(np.int64) + 1) * width + self.key[:, 1]
        want = (keys[:, 0].astype(np.int64) + 1) * width + keys[:, 1]
        at = np.searchsorted(codes, want)
        found = (at < len(codes)) & (codes[np.minimum(at, len(codes) - 1)] == want)
        return np.where(found, at, -1)


def _sums(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return means.astype(np.float64) * counts.reshape(*counts.shape, 1, 1)
