"""Words from subword tokens: which pieces form one word, and values of pieces turned into
values of words (docs/aggregations.md, "Words").

Pieces whose character spans touch, with nothing between them, form one word; a special
token, or any token without characters, is a word alone. Self-attention (and any per-token
value) of a word is the mean over its pieces. Attention between words follows Clark et al.
(2019): the attention word a gives word b is the sum over the pieces of b of the attention
it receives, averaged over the pieces of a that give it, so each row still sums to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grouping:
    """How the tokens of one instance form units (words, or each token alone).

    group: [tokens] the unit of each token, from 0, never decreasing;
    first: [units] the position of each unit's first token; size: [units] tokens per unit.
    """

    group: np.ndarray
    first: np.ndarray
    size: np.ndarray

    @property
    def n_units(self) -> int:
        return len(self.first)

    @property
    def is_identity(self) -> bool:
        return len(self.first) == len(self.group)


def tokens_alone(n_tokens: int) -> Grouping:
    """Every token its own unit."""
    idx = np.arange(n_tokens, dtype=np.int64)
    return Grouping(group=idx, first=idx, size=np.ones(n_tokens, dtype=np.int64))


def word_grouping(spans: np.ndarray, special: np.ndarray) -> Grouping:
    """Words of one instance from its tokens' character spans ([tokens, span], -1 for none)
    and special flags ([tokens] bool): token i joins the word of token i - 1 when both
    have characters, neither is special, and span i starts where span i - 1 ends (or
    inside it)."""
    spans = np.asarray(spans).reshape(-1, 2)
    special = np.asarray(special, dtype=bool)
    n = len(spans)
    if n == 0:
        return tokens_alone(0)
    has_chars = (spans[:, 0] >= 0) & ~special
    joins = np.zeros(n, dtype=bool)
    joins[1:] = has_chars[1:] & has_chars[:-1] & (spans[1:, 0] <= spans[:-1, 1])
    group = np.cumsum(~joins) - 1
    first = np.flatnonzero(~joins)
    size = np.diff(np.append(first, n))
    return Grouping(group=group.astype(np.int64), first=first.astype(np.int64),
                    size=size.astype(np.int64))


def unit_mean(values: np.ndarray, g: Grouping) -> np.ndarray:
    """[units, ...] the mean over each unit's tokens of ``values`` ([tokens, ...])."""
    values = np.asarray(values)
    if g.is_identity:
        return values
    sums = np.add.reduceat(values.astype(np.float64), g.first, axis=0)
    return sums / g.size.reshape((-1,) + (1,) * (values.ndim - 1))


def unit_sum(values: np.ndarray, g: Grouping, axis: int = 0) -> np.ndarray:
    """``values`` summed over each unit's tokens along ``axis``."""
    values = np.asarray(values)
    if g.is_identity:
        return values
    return np.add.reduceat(values.astype(np.float64), g.first, axis=axis)


def unit_attention(attention: np.ndarray, g: Grouping) -> np.ndarray:
    """[units, units] attention between units from [tokens, tokens] attention A[i, j]
    (i gives, j receives): summed over the receiving unit's tokens, averaged over the giving
    unit's tokens."""
    return unit_mean(unit_sum(attention, g, axis=1), g)


def unit_spans(spans: np.ndarray, g: Grouping) -> np.ndarray:
    """[units, span] from the first token's start to the last token's end."""
    spans = np.asarray(spans).reshape(-1, 2)
    if g.is_identity:
        return spans
    last = g.first + g.size - 1
    return np.stack([spans[g.first, 0], spans[last, 1]], axis=1)


def unit_strings(tokens: list[str], spans: np.ndarray, text: str, g: Grouping) -> list[str]:
    """What each unit is called: a word's text, or the token itself for a unit without
    characters (special tokens)."""
    if g.is_identity:
        return list(tokens)
    ws = unit_spans(spans, g)
    out = []
    for u, (start, end) in enumerate(ws.tolist()):
        if start < 0:
            out.append(tokens[int(g.first[u])])
        else:
            out.append(text[start:end])
    return out
