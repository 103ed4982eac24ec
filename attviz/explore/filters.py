"""Which instances the sidebar keeps: every filter in one object.

:class:`Filters` owns each filter's value (a parameter whose label and doc the sidebar's
widget shows), the mask it selects over a shared store (:meth:`Filters.mask`), its reset and
its part of the address bar (:meth:`Filters.query`, :meth:`Filters.apply_query`). The session
(:class:`attviz.explore.state.Explorer`) holds one and refilters when any of its values
changes. Masks are numpy over the in-memory per-instance columns; conditions that read the
store (the text, a token, head statistics) come from the store's caches (:mod:`.stores`,
:mod:`.slices`, :mod:`attviz.store.search`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import param

from .choices import ANY_CELL, cell_choices, class_choices

if TYPE_CHECKING:
    from .stores import SharedStore


@dataclass(frozen=True)
class HeadCondition:
    """"layer ``layer`` head ``head``: ``statistic`` >= (or <=) ``threshold``"."""

    statistic: str
    layer: int
    head: int
    threshold: float
    op: str = ">="

    def holds(self, values: np.ndarray) -> np.ndarray:
        v = values.astype(np.float64)
        return v >= self.threshold if self.op == ">=" else v <= self.threshold

    def __str__(self) -> str:
        return f"{self.statistic} of L{self.layer} H{self.head} {self.op} {self.threshold:g}"

    def query(self) -> str:
        """The condition in the address bar: ``statistic:layer:head:op:threshold``."""
        return f"{self.statistic}:{self.layer}:{self.head}:{self.op}:{self.threshold:g}"

    @classmethod
    def parse(cls, text: str) -> HeadCondition:
        """The condition :meth:`query` wrote; ValueError when ``text`` is not one."""
        statistic, layer, head, op, threshold = text.split(":")
        if op not in (">=", "<="):
            raise ValueError(f"not a comparison: {op!r}")
        return cls(statistic, int(layer), int(head), float(threshold), op)


# the filters' names in the address bar (their order there)
QUERY_NAMES = {"misclassified_only": "misclassified", "gold": "gold", "predicted": "predicted",
               "cell": "cell", "confidence": "confidence", "tokens": "tokens", "text": "text",
               "case_sensitive": "case", "inside_words": "inwords", "token": "token",
               "head_filters": "head"}
# filters on a session's own ablation result: not in the address bar, since a link opened
# elsewhere has no such result (a slice ablation is a minute of model time, not re-run
# when a page loads); docs/design.md
SESSION_NAMES = ("ablation_changed", "ablation_cell")


class Filters(param.Parameterized):
    """The sidebar's filters; an instance passes when every condition holds.

    Values, not labels: gold and predicted hold class indices, cell None or a (gold,
    predicted) pair of class indices, token a token id (-1: any). :meth:`configure` sets the
    choices and ranges of a store.
    """

    misclassified_only = param.Boolean(default=False, label="misclassified only",
                                       doc="only instances whose prediction is wrong")
    gold = param.ListSelector(default=[], objects={}, label="gold label",
                              doc="gold labels to keep (none: all)")
    predicted = param.ListSelector(default=[], objects={}, label="predicted label",
                                   doc="predicted labels to keep (none: all)")
    cell = param.Selector(default=None, objects={ANY_CELL: None},
                          label="confusion cell (gold → predicted)",
                          doc="a confusion cell gold → predicted")
    confidence = param.Range(default=(0.0, 1.0), bounds=(0.0, 1.0), label="confidence",
                             doc="largest class probability")
    tokens = param.Range(default=(0, 512), bounds=(0, 512), label="tokens",
                         doc="tokens per instance")
    text = param.String(default="", label="text contains",
                        doc="the instance text contains this")
    case_sensitive = param.Boolean(default=False, label="Aa", doc="match upper and lower case")
    inside_words = param.Boolean(default=False, label="in words", doc="find the text anywhere, "
                                 "also inside longer words (scans every text; else through the "
                                 "token index)")
    token = param.Integer(default=-1, label="contains token",
                          doc="only instances holding this token id (-1: any)")
    head_filters = param.List(default=[], item_type=HeadCondition, label="head statistics",
                              doc="conditions on head statistics; all must hold")
    ablation_changed = param.Boolean(default=False, label="prediction changed by the ablation",
                                     doc="only instances of the last slice ablation whose "
                                     "prediction changed with the heads switched off")
    ablation_cell = param.Selector(default=None, objects={ANY_CELL: None},
                                   label="after the ablation (gold → new prediction)",
                                   doc="instances of the last slice ablation in this cell of "
                                   "its confusion matrix")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        # the session's last slice ablation (attviz.explore.ablation_data.SliceResult)
        self.ablation = None

    def configure(self, label_names: list[str], max_tokens: int) -> None:
        """The choices and ranges of a store, every filter reset (no event)."""
        with param.parameterized.discard_events(self):
            self.param.gold.objects = class_choices(label_names)
            self.param.predicted.objects = class_choices(label_names)
            self.param.cell.objects = cell_choices(label_names)
            self.param.ablation_cell.objects = cell_choices(label_names)
            self.ablation = None
            self.param.tokens.bounds = (0, max(1, max_tokens))
            self.reset()

    def reset(self) -> None:
        """Every filter off: all instances pass."""
        self.param.update(misclassified_only=False, gold=[], predicted=[], cell=None,
                          confidence=(0.0, 1.0), tokens=tuple(self.param.tokens.bounds),
                          text="", case_sensitive=False, inside_words=False, token=-1,
                          head_filters=[], ablation_changed=False, ablation_cell=None)

    def active(self) -> list[str]:
        """The names of the filters that are on (not at their reset value)."""
        return [n for n in (*QUERY_NAMES, *SESSION_NAMES)
                if n not in ("case_sensitive", "inside_words") and self._on(n)]

    def _on(self, name: str) -> bool:
        value = getattr(self, name)
        if name == "tokens":
            return tuple(value) != tuple(self.param.tokens.bounds)
        if name == "confidence":
            return tuple(value) != (0.0, 1.0)
        if name == "token":
            return value >= 0
        return bool(value) if name not in ("cell", "ablation_cell") else value is not None

    # -- the mask -------------------------------------------------------------------------
    def mask(self, shared: SharedStore) -> np.ndarray:
        """[instances] bool: the instances of ``shared`` that pass. Raises UserError when a
        filter needs what the store does not hold (a token index, a statistic)."""
        cols = shared.cols
        n_classes = len(shared.label_names)
        mask = np.ones(len(cols), dtype=bool)
        if self.misclassified_only:
            mask &= (cols.label >= 0) & ~cols.correct
        if self.gold:
            mask &= _in(cols.label, self.gold, n_classes)
        if self.predicted:
            mask &= _in(cols.prediction, self.predicted, n_classes)
        if self.cell is not None:
            mask &= (cols.label == self.cell[0]) & (cols.prediction == self.cell[1])
        if self._on("confidence"):
            lo, hi = self.confidence
            mask &= (cols.confidence >= lo) & (cols.confidence <= hi)
        if self._on("tokens"):
            lo, hi = self.tokens
            mask &= (cols.token_count >= lo) & (cols.token_count <= hi)
        if self.text:
            mask &= shared.search_text(self.text, self.case_sensitive, self.inside_words)
        if self.token >= 0:
            mask &= shared.slices.token_mask(self.token)
        for c in self.head_filters:
            mask &= c.holds(shared.slices.column(c.statistic, c.layer, c.head))
        if self.ablation_changed or self.ablation_cell is not None:
            if self.ablation is None:  # no result to filter by: nothing passes
                return np.zeros(len(cols), dtype=bool)
            mask &= self.ablation.mask(len(cols), self.ablation_changed, self.ablation_cell)
        return mask

    # -- the address bar --------------------------------------------------------------------
    def query(self, vocab: list[str]) -> dict[str, list[str]]:
        """The filters that are on, as address bar arguments (name -> values): labels and
        cells by the labels the sidebar shows, the token by its string."""
        out: dict[str, list[str]] = {}
        for name in self.active():
            if name in QUERY_NAMES:
                out[QUERY_NAMES[name]] = self._query_values(name, vocab)
        for flag in ("case_sensitive", "inside_words"):
            if self.text and getattr(self, flag):
                out[QUERY_NAMES[flag]] = ["1"]
        return out

    def _query_values(self, name: str, vocab: list[str]) -> list[str]:
        value = getattr(self, name)
        if name in ("gold", "predicted"):
            labels = {v: k for k, v in self.param[name].objects.items()}
            return [labels[v] for v in value]
        if name == "cell":
            return [{v: k for k, v in self.param.cell.objects.items()}[value]]
        if name in ("confidence", "tokens"):
            return [f"{value[0]:g},{value[1]:g}"]
        if name == "token":
            return [vocab[value] if value < len(vocab) else str(value)]
        if name == "head_filters":
            return [c.query() for c in value]
        return ["1"] if value is True else [str(value)]

    def apply_query(self, args: Mapping[str, list[str]], shared: SharedStore) -> list[str]:
        """Set the filters an address names (``args``: name -> values, as :meth:`query`
        writes them) for the store ``shared``, all at once; the arguments that name nothing
        of this store are left out and returned."""
        values, bad = {}, []
        for name, key in QUERY_NAMES.items():
            given = args.get(key)
            if not given:
                continue
            try:
                values[name] = self._parse(name, given, shared)
            except (ValueError, KeyError, IndexError):
                bad.append(key)
        values = {k: v for k, v in values.items() if self._valid(k, v, bad)}
        self.param.update(**values)
        return bad

    def _parse(self, name: str, given: list[str], shared: SharedStore):
        if name in ("misclassified_only", "case_sensitive", "inside_words"):
            return given[0] in ("1", "true", "yes", "on")
        if name in ("gold", "predicted"):
            labels = self.param[name].objects
            return [labels[g] for g in given]
        if name == "cell":
            return self.param.cell.objects[given[0]]
        if name in ("confidence", "tokens"):
            lo, hi = given[0].split(",")
            kind = float if name == "confidence" else int
            return (kind(lo), kind(hi))
        if name == "token":
            return shared.store.vocab.index(given[0])
        if name == "head_filters":
            return [self._head_condition(g, shared) for g in given]
        return given[0]

    @staticmethod
    def _head_condition(text: str, shared: SharedStore) -> HeadCondition:
        c = HeadCondition.parse(text)
        meta = shared.store.meta
        if (c.statistic not in shared.slices.statistics or not 0 <= c.layer < meta.num_layers
                or not 0 <= c.head < meta.num_heads):
            raise ValueError(f"no such statistic or head in this store: {text}")
        return c

    def _valid(self, name: str, value, bad: list[str]) -> bool:
        """Whether ``value`` fits the parameter ``name`` (else its key joins ``bad``)."""
        try:
            self.param[name]._validate(value)
        except (ValueError, TypeError):
            bad.append(QUERY_NAMES[name])
            return False
        return True


def _in(values: np.ndarray, keep, n_classes: int) -> np.ndarray:
    lookup = np.zeros(n_classes + 1, dtype=bool)  # last slot: -1 (unknown)
    lookup[list(keep)] = True
    return lookup[values]
