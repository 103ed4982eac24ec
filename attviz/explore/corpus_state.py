"""The corpus view's settings in one session (which statistic, which contrast, which head's
profile) and the slices they define over the sidebar's filtered instances."""

from __future__ import annotations

import numpy as np
import param

from .choices import cell_choices
from .state import Explorer

STAT_LABELS = {
    "self_mean": "mean self-attention (self_mean)",
    "self_max": "largest self-attention (self_max)",
    "self_argmax": "position of the largest (self_argmax)",
    "first_mass": "attention to the first token (first_mass)",
    "last_mass": "attention to the last token (last_mass)",
    "entropy": "row entropy / log n (entropy)",
    "importance": "head importance dL/dg (importance)",
}
NO_CONTRAST, ERRORS, CELLS = "none", "errors", "cells"
CONTRASTS = {"none: the slice": NO_CONTRAST,
             "misclassified against correct": ERRORS,
             "cell A against cell B": CELLS}
LAYER_MEAN = "mean of the layer's heads"


class CorpusSettings(param.Parameterized):
    """What the corpus view shows for the explorer's current filter (the slice)."""

    explorer = param.ClassSelector(class_=Explorer)
    statistic = param.Selector(default=None, objects={}, allow_None=True,
                               doc="the statistic per instance and head the grid shows")
    contrast = param.Selector(default=NO_CONTRAST, objects=CONTRASTS,
                              doc="show one slice, or slice A against slice B")
    cell_a = param.Selector(default=None, objects={}, allow_None=True, doc="slice A: a cell")
    cell_b = param.Selector(default=None, objects={}, allow_None=True, doc="slice B: a cell")
    head = param.Selector(default=None, objects={LAYER_MEAN: None}, allow_None=True,
                          doc="whose token profile: one head of the layer or the layer's mean")
    min_count = param.Integer(default=5, bounds=(1, None),
                              doc="tokens seen fewer times in the slice are left out")
    per_head = param.Boolean(default=True, doc="position profile: a line per shown head "
                             "(else the mean of the shown heads with their range)")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.explorer.param.watch(self._configure, ["store_name", "error"])
        self._configure()

    def _configure(self, *_) -> None:
        ex = self.explorer
        stats = ex.opened.slices.statistics if ex.opened is not None else []
        cells = {k: v for k, v in cell_choices(ex.label_names).items() if v is not None}
        heads = ex.param.heads.objects
        with param.parameterized.discard_events(self):
            self.param.statistic.objects = {STAT_LABELS.get(s, s): s for s in stats}
            self.statistic = stats[0] if stats else None
            self.param.cell_a.objects = cells
            self.param.cell_b.objects = cells
            values = list(cells.values())
            self.cell_a = values[1] if len(values) > 1 else None  # (0, 1): an error cell
            self.cell_b = values[0] if values else None  # (0, 0): its correct neighbour
            self.param.head.objects = {LAYER_MEAN: None, **{f"head {h}": h for h in heads}}
            self.head = None
        self.param.trigger("statistic", "head")

    # -- the slices ------------------------------------------------------------------------
    def slices(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(A, B): boolean masks over the store's instances; B is None without contrast."""
        ex = self.explorer
        base = ex.mask
        if self.contrast == NO_CONTRAST or ex.opened is None:
            return base, None
        c = ex.opened.cols
        if self.contrast == ERRORS:
            known = c.label >= 0
            return base & known & ~c.correct, base & known & c.correct
        a = self._cell(self.cell_a)
        b = self._cell(self.cell_b)
        return base & a, base & b

    def _cell(self, cell) -> np.ndarray:
        c = self.explorer.opened.cols
        if cell is None:
            return np.zeros(len(c), dtype=bool)
        return (c.label == cell[0]) & (c.prediction == cell[1])

    def slice_names(self) -> tuple[str, str | None]:
        """How slices A and B are called on the page."""
        if self.contrast == NO_CONTRAST:
            return "the slice", None
        if self.contrast == ERRORS:
            return "misclassified", "correct"
        labels = {v: k for k, v in self.param.cell_a.objects.items()}
        return labels.get(self.cell_a, "cell A"), labels.get(self.cell_b, "cell B")
