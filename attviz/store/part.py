"""A contiguous run of instances held in memory: what writers append and merges copy.

Shapes use the names of :mod:`attviz.dims`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .strings import StringArray


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
        attention: [tokens, layers, heads] float16, A[l, h, i, i]
        token_id: [tokens] int32
        span: [tokens, span] int32, character [start, end) in the instance's text; -1 for none
        special: [tokens] bool
    Per document:
        document_ids: [documents] strings
        document_row: [documents] int64, the row of the corpus file (0-based)
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

    def __post_init__(self) -> None:
        self.token_count = np.asarray(self.token_count, dtype=np.int64)
        self.label = np.asarray(self.label, dtype=np.int16)
        self.prediction = np.asarray(self.prediction, dtype=np.int16)
        self.probabilities = np.asarray(self.probabilities, dtype=np.float32)
        self.document = np.asarray(self.document, dtype=np.int64)
        self.segment = np.asarray(self.segment, dtype=np.int32)
        self.attention = np.asarray(self.attention, dtype=np.float16)
        self.token_id = np.asarray(self.token_id, dtype=np.int32)
        self.span = np.asarray(self.span, dtype=np.int32).reshape(-1, 2)
        self.special = np.asarray(self.special, dtype=bool)
        self.document_row = np.asarray(self.document_row, dtype=np.int64)
        self.validate()

    @property
    def n_instances(self) -> int:
        return len(self.token_count)

    @property
    def n_tokens(self) -> int:
        return len(self.token_id)

    def validate(self) -> None:
        n, t = self.n_instances, int(self.token_count.sum())
        checks = {
            "label": len(self.label) == n,
            "prediction": len(self.prediction) == n,
            "probabilities": self.probabilities.ndim == 2 and len(self.probabilities) == n,
            "document": len(self.document) == n,
            "segment": len(self.segment) == n,
            "text": len(self.text) == n,
            "attention": self.attention.ndim == 3 and len(self.attention) == t,
            "token_id": len(self.token_id) == t,
            "span": len(self.span) == t,
            "special": len(self.special) == t,
            "document_row": len(self.document_row) == len(self.document_ids),
            "document index": n == 0 or (
                self.document.min() >= 0 and self.document.max() < len(self.document_ids)
            ),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"inconsistent part ({n} instances, {t} tokens): {', '.join(bad)}")

    @classmethod
    def concat(cls, parts: list[Part]) -> Part:
        """Parts one after another; document indices are shifted to the joined table."""
        if len(parts) == 1:
            return parts[0]
        shifts = np.cumsum([0] + [len(p.document_ids) for p in parts[:-1]])
        return cls(
            token_count=np.concatenate([p.token_count for p in parts]),
            label=np.concatenate([p.label for p in parts]),
            prediction=np.concatenate([p.prediction for p in parts]),
            probabilities=np.concatenate([p.probabilities for p in parts]),
            document=np.concatenate([p.document + s for p, s in zip(parts, shifts)]),
            segment=np.concatenate([p.segment for p in parts]),
            text=StringArray.concat([p.text for p in parts]),
            attention=np.concatenate([p.attention for p in parts]),
            token_id=np.concatenate([p.token_id for p in parts]),
            span=np.concatenate([p.span for p in parts]),
            special=np.concatenate([p.special for p in parts]),
            document_ids=StringArray.concat([p.document_ids for p in parts]),
            document_row=np.concatenate([p.document_row for p in parts]),
        )
