"""A contiguous run of instances held in memory: what writers append and merges copy.

Shapes use the names of :mod:`attviz.dims`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dims
from .layout import OFFSETS, PART_FIELDS, STRINGS
from .strings import StringArray


def correct(label: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """[instances] bool: the prediction is the gold label (False where that is unknown, -1)."""
    return (label >= 0) & (label == prediction)


@dataclass
class Part:
    """Instances with everything the store keeps about them.

    Per instance:
        token_count: [instances] int64, tokens of each instance (special tokens included)
        label: [instances] int16, gold class or -1
        prediction: [instances] int16
        probabilities: [instances, classes] float32
        document: [instances] int64, index into this part's ``document_ids``
        segment: [instances] int32, index of the window within its document
        text: [instances] strings, the text each instance covers
    Per token (instances concatenated in order):
        attention: [tokens, stored_layers, heads] A[l, h, i, i] of the stored layers as the
            store keeps it: float16, or uint8 log8 codes (:mod:`.codec`)
        token_id: [tokens] int32
        span: [tokens, span] int32, character [start, end) in the instance's text; -1 for none
        special: [tokens] bool
    Per document:
        document_ids: [documents] strings
        document_row: [documents] int64, the row of the corpus file (0-based)
    Per instance and head (optional; None where not computed):
        self_mean, self_max, first_mass, last_mass, entropy, importance: [instances,
        layers, heads] float16; self_argmax: [instances, layers, heads] int16 (docs/format.md)
    Not a dataset of the store:
        profile_sums: the sums over this part's tokens of every layer's diagonals by group
            (:class:`~attviz.store.derive.ProfileSums`), for a store that keeps some layers
            only (its profiles still cover every layer); None otherwise
    """

    token_count: np.ndarray
    label: np.ndarray
    prediction: np.ndarray
    probabilities: np.ndarray
    document: np.ndarray
    segment: np.ndarray
    text: StringArray
    attention: np.ndarray
    token_id: np.ndarray
    span: np.ndarray
    special: np.ndarray
    document_ids: StringArray
    document_row: np.ndarray
    self_mean: np.ndarray | None = None
    self_max: np.ndarray | None = None
    self_argmax: np.ndarray | None = None
    first_mass: np.ndarray | None = None
    last_mass: np.ndarray | None = None
    entropy: np.ndarray | None = None
    profile_sums: object | None = None
    importance: np.ndarray | None = None

    def __post_init__(self) -> None:
        for d in PART_FIELDS:
            value = getattr(self, d.field)
            if d.encoding == STRINGS or value is None:
                continue
            if d.dtype is None and d.encoding != OFFSETS:  # float16 or 8-bit codes, as stored
                value = np.asarray(value)
                if value.dtype not in (np.float16, np.uint8):
                    value = value.astype(np.float16)
            else:
                value = np.asarray(value, dtype=np.int64 if d.encoding == OFFSETS else d.dtype)
            if value.ndim == 1 and len(d.dims) == 2 and d.dims[1] == dims.SPAN:
                value = value.reshape(-1, 2)  # an empty list of spans
            setattr(self, d.field, value)
        self.validate()

    @property
    def n_instances(self) -> int:
        return len(self.token_count)

    @property
    def n_tokens(self) -> int:
        return len(self.token_id)

    @property
    def correct(self) -> np.ndarray:
        """[instances] bool; False where the gold label is unknown."""
        return correct(self.label, self.prediction)

    def sizes(self) -> dict[str, int]:
        """Rows of each dimension along which this part's datasets grow."""
        return {dims.INSTANCES: self.n_instances, dims.TOKENS: int(self.token_count.sum()),
                dims.DOCUMENTS: len(self.document_ids)}

    def validate(self) -> None:
        sizes = self.sizes()
        n, t = sizes[dims.INSTANCES], sizes[dims.TOKENS]
        bad = []
        for d in PART_FIELDS:
            value = getattr(self, d.field)
            if value is None:
                if d.required:
                    bad.append(d.field)
                continue
            ndim_ok = d.encoding == STRINGS or value.ndim == len(d.dims)
            if not ndim_ok or len(value) != sizes[d.rows]:
                bad.append(d.field)
        if n and (self.document.min() < 0 or self.document.max() >= sizes[dims.DOCUMENTS]):
            bad.append("document index")
        if bad:
            raise ValueError(f"inconsistent part ({n} instances, {t} tokens): {', '.join(bad)}")

    @classmethod
    def concat(cls, parts: list[Part]) -> Part:
        """Parts one after another; indices (e.g. of documents) are shifted to the joined tables."""
        if len(parts) == 1:
            return parts[0]
        joined = {}
        for d in PART_FIELDS:
            values = [getattr(p, d.field) for p in parts]
            if any(v is None for v in values):
                if not all(v is None for v in values):
                    raise ValueError(f"some parts have {d.path} and some do not")
                joined[d.field] = None
            elif d.encoding == STRINGS:
                joined[d.field] = StringArray.concat(values)
            else:
                if d.shift:
                    base = np.cumsum([0] + [p.sizes()[d.shift] for p in parts[:-1]])
                    values = [v + b for v, b in zip(values, base)]
                joined[d.field] = np.concatenate(values)
        if any(p.profile_sums is not None for p in parts):
            raise ValueError("parts with profile sums are written one by one, not joined")
        return cls(**joined)
