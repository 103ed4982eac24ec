"""What an ablation (heads switched off) gives, as pure functions: the heads written as
``3.7, 5.1``, which instances of a slice run, what changed, and which heads to choose (the
largest contrast, the most important). No torch here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SLICE_LIMIT = 2000  # instances of a slice run at most (else a uniform sample of this many)

Head = tuple[int, int]


def parse_heads(text: str, num_layers: int, num_heads: int) -> list[Head]:
    """``"3.7, 5.1"`` -> [(3, 7), (5, 1)] (layer.head, sorted, each once); ValueError with
    one sentence when a part is not a head of this model."""
    out = set()
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if not part:
            continue
        layer, dot, head = part.partition(".")
        if not dot or not layer.isdigit() or not head.isdigit():
            raise ValueError(f"{part!r} is not LAYER.HEAD (e.g. 3.7)")
        layer, head = int(layer), int(head)
        if not (0 <= layer < num_layers and 0 <= head < num_heads):
            raise ValueError(f"{part}: the model has layers 0-{num_layers - 1} and heads "
                             f"0-{num_heads - 1}")
        out.add((layer, head))
    return sorted(out)


def heads_text(heads: list[Head]) -> str:
    """[(3, 7), (5, 1)] -> ``"3.7, 5.1"`` (the form :func:`parse_heads` reads)."""
    return ", ".join(f"{layer}.{head}" for layer, head in sorted(heads))


def slice_instances(mask: np.ndarray, limit: int = SLICE_LIMIT, seed: int = 0
                    ) -> tuple[np.ndarray, bool]:
    """(instances, sampled): all of ``mask`` up to ``limit``, else a uniform sample of
    ``limit`` (sorted; the same sample for the same slice)."""
    idx = np.flatnonzero(mask)
    if len(idx) <= limit:
        return idx, False
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, size=limit, replace=False)), True


def top_heads(scores: np.ndarray, k: int) -> list[Head]:
    """The ``k`` (layer, head) cells of [layers, heads] ``scores`` with the largest values
    (NaN never chosen), largest first."""
    flat = np.where(np.isfinite(scores), scores, -np.inf).ravel()
    order = np.argsort(-flat, kind="stable")[: max(0, k)]
    order = order[np.isfinite(flat[order])]
    return [(int(i // scores.shape[1]), int(i % scores.shape[1])) for i in order]


def mean_abs(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[layers, heads] mean over the instances of ``mask`` of |values| ([instances, layers,
    heads]): Michel et al.'s head importance score, E|dL/dg|."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return np.full(values.shape[1:], np.nan)
    return np.stack([np.abs(values[idx, layer].astype(np.float64)).mean(axis=0)
                     for layer in range(values.shape[1])])


@dataclass(eq=False)
class SliceResult:
    """A slice run with ``heads`` off.

    instances: [n] sorted store instances that ran; gold, stored: [n] their gold labels
    (-1 unknown) and stored predictions; probabilities: [n, classes] with the heads off;
    sampled: a uniform sample of a slice of ``slice_size``; seconds: time the model took.
    """

    heads: list[Head]
    instances: np.ndarray
    gold: np.ndarray
    stored: np.ndarray
    probabilities: np.ndarray
    sampled: bool
    slice_size: int
    seconds: float = 0.0
    model: str = ""

    @property
    def prediction(self) -> np.ndarray:
        """[n] the predictions with the heads off."""
        return self.probabilities.argmax(axis=1)

    @property
    def changed(self) -> np.ndarray:
        """[n] bool: the prediction differs from the stored one."""
        return self.prediction != self.stored

    def accuracy(self) -> tuple[float | None, float | None, int]:
        """(before, after, labelled instances); None without gold labels."""
        known = self.gold >= 0
        n = int(known.sum())
        if not n:
            return None, None, 0
        return (float((self.stored[known] == self.gold[known]).mean()),
                float((self.prediction[known] == self.gold[known]).mean()), n)

    def flips(self) -> dict[str, int]:
        """errors (before), fixed (errors now right), correct (before), broken (now wrong)."""
        known = self.gold >= 0
        right_before = known & (self.stored == self.gold)
        wrong_before = known & ~right_before
        right_after = known & (self.prediction == self.gold)
        return {"errors": int(wrong_before.sum()), "fixed": int((wrong_before & right_after).sum()),
                "correct": int(right_before.sum()),
                "broken": int((right_before & ~right_after).sum())}

    def confusion_after(self, n_classes: int) -> np.ndarray:
        """[classes (gold), classes (prediction with the heads off)] counts."""
        known = self.gold >= 0
        m = np.bincount(self.gold[known].astype(np.int64) * n_classes + self.prediction[known],
                        minlength=n_classes * n_classes)
        return m.reshape(n_classes, n_classes)

    def mask(self, n_instances: int, changed: bool, cell: Head | None) -> np.ndarray:
        """[store instances] bool: the instances that ran and (``changed``) whose prediction
        changed and (``cell``) whose (gold, new prediction) is ``cell``."""
        keep = np.ones(len(self.instances), dtype=bool)
        if changed:
            keep &= self.changed
        if cell is not None:
            keep &= (self.gold == cell[0]) & (self.prediction == cell[1])
        out = np.zeros(n_instances, dtype=bool)
        out[self.instances[keep]] = True
        return out
