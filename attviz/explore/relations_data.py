"""What the relations of an instance put on the page, as pure functions of (view data,
relations, settings): the token x token matrix of the shown units, token scores, the
comparison with the store's diagonals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.words import unit_attention, unit_sum
from ..store.codec import FLOOR as CODE_FLOOR
from ..store.codec import RELATIVE_ERROR
from .style import head_name
from .viewdata import ViewData

# largest |recomputed - stored| diagonal value that still "matches", by the precision the
# store's model ran in (the store keeps float16 either way)
TOLERANCE = {"float32": 1e-3, "float16": 2e-3, "bfloat16": 1e-2}
CODE_RELATIVE = RELATIVE_ERROR * 1.001  # an 8-bit value's largest relative error


def head_label(head: int | None, heads: list[int]) -> str:
    if head is not None:
        return head_name(head)
    return f"mean of {len(heads)} head{'s' if len(heads) != 1 else ''}"


def token_matrix(maps: np.ndarray, head: int | None, heads: list[int]) -> np.ndarray:
    """[tokens, tokens] the attention of ``head``, or the mean of ``heads``, from the layer's
    ``maps`` ([heads, tokens, tokens])."""
    if head is not None:
        return maps[head].astype(np.float64)
    return maps[heads].astype(np.float64).mean(axis=0)


def shown_matrix(vd: ViewData, maps: np.ndarray, head: int | None) -> np.ndarray:
    """[shown, shown] attention between the units the views show (words or tokens):
    A[a, b] the attention unit a gives unit b."""
    m = token_matrix(maps, head, vd.heads)
    if vd.grouping is not None and not vd.grouping.is_identity:
        m = unit_attention(m, vd.grouping)
    return m[np.ix_(vd.units, vd.units)]


def shown_scores(vd: ViewData, scores: np.ndarray) -> np.ndarray:
    """[shown] token scores (rollout rows) of the shown units: summed over a word's pieces."""
    if vd.grouping is not None and not vd.grouping.is_identity:
        scores = unit_sum(scores, vd.grouping)
    return np.asarray(scores, dtype=np.float64)[vd.units]


def colour_top(values: np.ndarray, vd: ViewData, source: int) -> float | None:
    """The value that gets the full colour: the largest, leaving out the unit at token
    position ``source`` (where a rollout starts, or the tapped token), whose own share would
    pale every other; None when nothing else is shown."""
    keep = vd.positions != source
    if vd.grouping is not None and 0 <= source < len(vd.grouping.group):
        keep = vd.units != vd.grouping.group[source]
    rest = values[keep]
    return float(rest.max()) if rest.size and rest.max() > 0 else None


@dataclass
class Check:
    """The recomputed diagonals against the stored ones."""

    max_difference: float
    tolerance: float

    @property
    def matches(self) -> bool:
        return self.max_difference <= self.tolerance

    @property
    def text(self) -> str:
        d = short(self.max_difference)
        if self.matches:
            return f"matches the store (max difference {d})"
        return (f"⚠ differs from the store (max difference {d}, more than {short(self.tolerance)}):"
                " these are not the model or the tokens that computed it")


def short(x: float) -> str:
    """A difference in one significant digit: 3e-4, 0.02, 0."""
    if x == 0:
        return "0"
    if x >= 0.01:
        return f"{x:.2g}"
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def check(diagonal: np.ndarray, stored: np.ndarray, dtype: str = "float32",
          layers: tuple[int, ...] | None = None, precision: int = 16) -> Check:
    """Compare recomputed ``diagonal`` ([tokens, layers, heads], every layer) with
    ``stored`` ([tokens, stored layers, heads]; ``layers``: their model numbers, default
    all). 8-bit values (``precision`` 8) are compared as the code stores them: the
    difference is measured after removing the code's 2.75% (or 1e-6 below 1e-6)."""
    if layers is not None and diagonal.ndim == 3 and max(layers, default=-1) < diagonal.shape[1]:
        diagonal = diagonal[:, list(layers)]
    tolerance = TOLERANCE.get(str(dtype), TOLERANCE["float32"])
    if diagonal.shape != stored.shape:
        return Check(float("inf"), tolerance)
    want, got = diagonal.astype(np.float64), stored.astype(np.float64)
    err = np.abs(want - got)
    if precision == 8:  # what the code cannot tell apart is no difference
        err = np.maximum(0.0, err - np.maximum(CODE_RELATIVE * want, CODE_FLOOR))
    return Check(float(err.max(initial=0)), tolerance)
