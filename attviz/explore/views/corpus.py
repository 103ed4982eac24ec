"""The corpus view: for the sidebar's current filter (the slice), its size, accuracy and
confusion matrix, the head grid, the token profile and the position profile. Computed when
shown and again when the slice or a setting changes (results are cached per slice)."""

from __future__ import annotations

import html

import holoviews as hv
import numpy as np
import panel as pn
import param

from ...errors import UserError
from ..corpus_data import confusion
from ..corpus_state import CELLS, NO_CONTRAST, CorpusSettings
from ..state import Explorer
from .confusion import confusion_grid
from .events import FigureEvents, InSession, WeakHook
from .headgrid import HeadPicker, grid_element
from .profiles import position_element, token_element
from .slice_ablation import SliceAblationView
from .widgets import ChoiceSelect

# what makes the slice, the settings or the figures change
SLICE = ("count", "store_name", "error")
LOOK = ("layer", "heads", "head_colors", "highlight")
TOP_TOKENS = 30


def confusion_element(ex: Explorer, mask: np.ndarray, hooks: list) -> hv.Overlay:
    """The slice's confusion matrix; clicking a cell sets the confusion filter."""
    m = confusion(ex.opened.cols.label, ex.opened.cols.prediction, mask, len(ex.label_names))
    return confusion_grid(m, ex.label_names, hooks, "Confusion (click: filter)")


class CorpusView(pn.viewable.Viewer):
    """Everything on the Corpus tab, for one session."""

    explorer = param.ClassSelector(class_=Explorer)
    revision = param.Integer(default=0, precedence=-1, doc="bumped to redraw")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        ex = self.explorer
        self.settings = CorpusSettings(explorer=ex)
        self.active = False
        self._stale = True
        self._results: dict = {}
        self.session = InSession()
        self.heads = HeadPicker(self.settings)
        self.token_events = FigureEvents(on_tap=self._on_token_tap)
        self.cell_events = FigureEvents(on_tap=self._on_cell_tap)
        # held weakly: HoloViews keeps hooks in a process-wide registry (events.WeakHook)
        self._hooks = {"grid": WeakHook(self.heads.hook),
                       "tokens": WeakHook(self.token_events.hook),
                       "cells": WeakHook(self.cell_events.hook)}
        ex.param.watch(self._changed, [*SLICE, *LOOK])
        self.settings.param.watch(self._changed, ["statistic", "contrast", "cell_a", "cell_b",
                                                  "head", "min_count", "per_head"])
        self.body = pn.Column(sizing_mode="stretch_width")  # filled when first shown
        bound = self.param.revision
        self.summary = pn.pane.HTML(sizing_mode="stretch_width", margin=(5, 10))
        self.grid = pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._grid, bound)),
                                      sizing_mode="stretch_width")
        self.auroc = pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._auroc, bound)),
                                       sizing_mode="stretch_width",
                                       visible=pn.bind(lambda c: c != NO_CONTRAST,
                                                       self.settings.param.contrast))
        self.confusion = pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._confusion, bound)))
        self.tokens = pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._tokens, bound)),
                                        sizing_mode="stretch_width")
        self.positions = pn.pane.HoloViews(hv.DynamicMap(pn.bind(self._positions, bound)),
                                           sizing_mode="stretch_width")
        self.ablation = SliceAblationView(explorer=ex, grid=lambda: self._results.get("grid"))

    # -- when to compute --------------------------------------------------------------------
    def show(self) -> None:
        """The tab is on screen: compute what changed while it was not; the first time, the
        figures are built after that, from real data (a figure first drawn empty does not
        take a legend or new axes well)."""
        self.active = True
        if self._stale:
            self.refresh()
        if not self.body.objects:
            self.body.objects = self._layout()

    def hide(self) -> None:
        self.active = False

    def _changed(self, *_) -> None:
        self._stale = True
        if self.active:
            self.refresh()

    def refresh(self) -> None:
        """Compute the results for the current slice and settings, then redraw."""
        self._stale = False
        self._results = self.compute()
        self.summary.object = self._summary_html()
        self.revision += 1

    def compute(self) -> dict:
        """grid, tokens, positions (None where they cannot be computed), the slices, and
        a message when something is missing."""
        ex, s = self.explorer, self.settings
        if ex.opened is None:
            return {}
        corpus = ex.opened.slices
        a, b = s.slices()
        out = {"a": a, "b": b, "grid": None, "tokens": None, "positions": None, "note": ""}
        try:
            if s.statistic:
                out["grid"] = corpus.grid(s.statistic, a, b)
            if corpus.groups.tables is None and not corpus.statistics:
                out["note"] = ("This store has no corpus statistics; add them with "
                               "`attviz index STORE`.")
            elif "importance" not in corpus.statistics:
                out["note"] = ("This store has no head importance (dL/dg per head): "
                               "precompute it with --importance; `attviz index` cannot add "
                               "it, it needs the model.")
            out["tokens"] = corpus.tokens(a, ex.layer, s.head, b, s.min_count, TOP_TOKENS)
            out["positions"] = corpus.positions(ex.mask, ex.layer)
        except UserError as e:
            out["note"] = str(e)
        return out

    # -- drawing ----------------------------------------------------------------------------
    def _summary_html(self) -> str:
        ex, r = self.explorer, self._results
        if not r:
            return ""
        c = ex.opened.cols
        mask = ex.mask
        known = mask & (c.label >= 0)
        acc = (f"accuracy <b>{c.correct[known].mean():.3f}</b>" if known.any()
               else "no gold labels")
        parts = [f"<b>{int(mask.sum()):,}</b> of {ex.total:,} instances", acc]
        if r["b"] is not None:
            name_a, name_b = self.settings.slice_names()
            parts.append(f"A: {html.escape(name_a)} ({int(r['a'].sum()):,}) · B: "
                         f"{html.escape(name_b)} ({int(r['b'].sum()):,})")
        tok = r.get("tokens")
        if tok is not None:
            parts.append("profiles exact, from the store's sums per group" if tok.exact else
                         f"profiles computed on a uniform sample of {tok.sample:,} instances")
        note = (f'<div class="av-note">{html.escape(r["note"])}</div>' if r.get("note")
                else "")
        return (f'<div class="av-corpus-summary" style="font-size:14px">Slice: '
                f'{" · ".join(parts)}</div>{note}')

    def _grid(self, *_):
        return grid_element(self.settings, self._results.get("grid"), [self._hooks["grid"]])

    def _auroc(self, *_):
        return grid_element(self.settings, self._results.get("grid"), [self._hooks["grid"]],
                            auroc=True)

    def _confusion(self, *_):
        ex = self.explorer
        if ex.opened is None:
            return hv.Overlay([hv.Rectangles([])])
        return confusion_element(ex, ex.mask, [self._hooks["cells"]])

    def _tokens(self, *_):
        ex = self.explorer
        vocab = ex.opened.store.vocab if ex.opened is not None else []
        return token_element(self.settings, self._results.get("tokens"), vocab,
                             [self._hooks["tokens"]])

    def _positions(self, *_):
        return position_element(self.settings, self._results.get("positions"), [])

    # -- clicks -----------------------------------------------------------------------------
    def _on_token_tap(self, x=None, y=None) -> None:
        prof = self._results.get("tokens")
        if prof is None or y is None:
            return
        i = len(prof.token_id) - 1 - int(round(y))  # the first token is drawn at the top
        if 0 <= i < len(prof.token_id):
            token = int(prof.token_id[i])
            self.session.run(lambda: setattr(self.explorer.filters, "token", token))

    def _on_cell_tap(self, x=None, y=None) -> None:
        ex = self.explorer
        n = len(ex.label_names)
        if x is None or y is None:
            return
        gold, predicted = n - 1 - int(round(y)), int(round(x))
        if 0 <= gold < n and 0 <= predicted < n:
            self.session.run(lambda: self.pick_cell(gold, predicted))

    def pick_cell(self, gold: int, predicted: int) -> None:
        """What clicking a cell of the confusion matrix does: filter to that cell."""
        f = self.explorer.filters
        f.param.update(cell=(gold, predicted),
                       **({"misclassified_only": False} if gold == predicted else {}))

    def controls(self) -> pn.Row:
        s = self.settings
        cells = pn.Row(
            pn.widgets.Select.from_param(s.param.cell_a, name="cell A", width=190),
            pn.widgets.Select.from_param(s.param.cell_b, name="cell B", width=190),
            visible=pn.bind(lambda c: c == CELLS, s.param.contrast))
        return pn.Row(
            pn.widgets.Select.from_param(s.param.statistic, name="statistic", width=280),
            pn.widgets.Select.from_param(s.param.contrast, name="contrast", width=240),
            cells, sizing_mode="stretch_width")

    def profile_controls(self) -> pn.Row:
        s = self.settings
        return pn.Row(
            ChoiceSelect.from_param(s.param.head, name="token profile of", width=200),
            pn.widgets.IntInput.from_param(s.param.min_count, name="min count", width=100),
            pn.widgets.Checkbox.from_param(s.param.per_head, name="a line per head",
                                           margin=(30, 10, 5, 10)),
            sizing_mode="stretch_width")

    def _layout(self) -> list:
        return [self.controls(), self.summary,
                pn.Row(self.confusion, self.grid, self.auroc, sizing_mode="stretch_width"),
                self.ablation,
                self.profile_controls(),
                pn.Row(self.tokens, self.positions, sizing_mode="stretch_width")]

    def __panel__(self):
        return self.body
