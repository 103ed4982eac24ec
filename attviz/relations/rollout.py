"""Attention rollout and gradient-weighted attention rollout as token scores.

Both combine one [tokens, tokens] matrix per layer (input side first) into
R = M_L ··· M_1 and return one row of R: the scores of every token as seen from the first
token ([CLS]), or from the last one in a causal model. Only that row is computed
(a vector times each layer's matrix), never R itself.

- Rollout (Abnar & Zuidema 2020): M_l = rownorm(mean_h A_l + I).
- Gradient-weighted rollout (Chefer et al. 2021, "Generic attention-model explainability"):
  M_l = I + mean_h[(∇A_l ⊙ A_l)⁺], ∇A_l the gradient of a class's logit with respect to
  the attention probabilities A_l, ⁺ the positive part.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rownorm(m: np.ndarray) -> np.ndarray:
    """``m`` with each row divided by its sum (rows summing to 0 are left as they are)."""
    s = m.sum(axis=-1, keepdims=True)
    return m / np.where(s == 0, 1.0, s)


def rollout_row(head_means: Sequence[np.ndarray], row: int) -> np.ndarray:
    """[tokens] row ``row`` of rownorm(Ā_L + I) ··· rownorm(Ā_1 + I), from ``head_means``:
    per layer, input side first, the [tokens, tokens] mean over heads of its attention."""
    n = head_means[0].shape[0]
    v = np.zeros(n)
    v[row] = 1.0
    eye = np.eye(n)
    for a in reversed(head_means):
        v = v @ rownorm(np.asarray(a, dtype=np.float64) + eye)
    return v


def gradient_rollout_row(relevances: Sequence[np.ndarray], row: int) -> np.ndarray:
    """[tokens] row ``row`` of (I + Ā_L) ··· (I + Ā_1), from ``relevances``: per layer,
    input side first, the [tokens, tokens] mean over heads of (∇A ⊙ A)⁺."""
    n = relevances[0].shape[0]
    v = np.zeros(n)
    v[row] = 1.0
    for a in reversed(relevances):
        v = v + v @ np.asarray(a, dtype=np.float64)
    return v
