"""The corpus view: for the sidebar's current filter (the slice), its size, accuracy and
confusion matrix, the head grid, the token profile and the position profile. Computed when
shown and again when the slice or a setting changes (results are cached per slice)."""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param

from ...errors import UserError
from ..corpus_data import confusion
from ..corpus_state import CELLS, NO_CONTRAST, CorpusSettings
from ..slices import digest
from ..state import Explorer
from .cellfigure import CellFigure, Cells
from .confusion import cell_at, confusion_cells, confusion_figure
from .events import InSession, frozen, in_order
from .headgrid import GRID_HEIGHT, HeadPicker, grid_cells
from .profiles import position_figure, position_series, update_position_figure
from .slice_ablation import SliceAblationView
from .tokenprofile import TokenBars, TokenProfileFigure, token_bars
from .widgets import ChoiceSelect

# what makes the slice, the settings or the figures change
SLICE = ("count", "store_name", "error")
LOOK = ("layer", "heads", "head_colors", "highlight")
TOP_TOKENS = 30


def confusion_shown(ex: Explorer, mask: np.ndarray) -> Cells:
    """The slice's confusion matrix; clicking a cell sets the confusion filter."""
    names = ex.label_names if ex.opened is not None else []
    m = (confusion(ex.opened.cols.label, ex.opened.cols.prediction, mask, len(names))
         if names else np.zeros((0, 0), dtype=np.int64))
    return confusion_cells(m, names, "Confusion (click: filter)")


FIGURES = ("grid", "auroc", "confusion", "tokens", "positions")


class CorpusView(pn.viewable.Viewer):
    """Everything on the Corpus tab, for one session.

    Each figure is redrawn only when what it shows changed (:meth:`_figure_keys`): a slice
    shown again, or a setting that concerns another figure, costs no redraw.
    """

    explorer = param.ClassSelector(class_=Explorer)
    grid_rev = param.Integer(default=0, precedence=-1)
    auroc_rev = param.Integer(default=0, precedence=-1)
    confusion_rev = param.Integer(default=0, precedence=-1)
    tokens_rev = param.Integer(default=0, precedence=-1)
    positions_rev = param.Integer(default=0, precedence=-1)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        ex = self.explorer
        self.settings = CorpusSettings(explorer=ex)
        self.active = False
        self._stale = True
        self._results: dict = {}
        self._shown: dict = {}  # figure -> the key of what it shows
        self._held: dict = {}  # the results those keys name (their ids stay theirs)
        self.session = InSession()
        self.heads = HeadPicker(self.settings)
        self._figs: dict = {}  # figure name -> its CellFigure / TokenProfileFigure
        ex.param.watch(in_order(self._changed), [*SLICE, *LOOK])
        self.settings.param.watch(in_order(self._changed), [
            "statistic", "contrast", "cell_a", "cell_b", "head", "min_count", "per_head"])
        self.body = pn.Column(sizing_mode="stretch_width")  # filled when first shown
        self.summary = pn.pane.HTML(sizing_mode="stretch_width", margin=(5, 10))
        # plain Bokeh figures, made when first drawn and then updated in place
        self.grid = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=GRID_HEIGHT)
        self.auroc = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=GRID_HEIGHT)
        # the AUROC figure goes into the page when a contrast is first chosen: a page that
        # never contrasts two slices does not build it
        self.auroc_box = pn.Column(sizing_mode="stretch_width", margin=0,
                                   visible=pn.bind(lambda c: c != NO_CONTRAST,
                                                   self.settings.param.contrast))
        self.settings.param.watch(in_order(self._place_auroc), ["contrast"])
        self.confusion = pn.pane.Bokeh(None)
        self.tokens = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=340)
        self.positions = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=340)
        self._positions_makeup: tuple = ()
        self.param.watch(in_order(self._draw), [f"{name}_rev" for name in FIGURES])
        self._place_auroc()  # a contrast set before the view was made (a shared link)
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

    def _place_auroc(self, *_) -> None:
        if self.settings.contrast != NO_CONTRAST and not self.auroc_box.objects:
            self._draw_figure("auroc", placing=True)
            with frozen():
                self.auroc_box.objects = [self.auroc]

    def _changed(self, *_) -> None:
        self._stale = True
        if self.active:
            self.refresh()

    def refresh(self) -> None:
        """Compute the results for the current slice and settings, then redraw the figures
        whose content changed."""
        self._stale = False
        self._results = self.compute()
        self.summary.object = self._summary_html()
        keys = self._figure_keys()
        changed = [name for name in FIGURES if self._shown.get(name) != keys[name]]
        self._shown, self._held = keys, dict(self._results)
        if changed:
            with frozen(), param.parameterized.batch_call_watchers(self):
                for name in changed:
                    setattr(self, f"{name}_rev", getattr(self, f"{name}_rev") + 1)

    def _figure_keys(self) -> dict:
        """What each figure shows, as a value that changes when the figure must: results by
        identity (cached per slice, so the same slice gives the same objects), and the
        settings each figure is drawn with."""
        ex, s, r = self.explorer, self.settings, self._results
        if not r:
            return {name: (ex.store_name, ex.error) for name in FIGURES}
        grid = (id(r["grid"]), s.statistic, s.contrast, ex.layer, ex.highlight)
        return {"grid": grid, "auroc": grid,
                "confusion": (ex.store_name, digest(ex.mask)),
                "tokens": (id(r["tokens"]), ex.layer, s.head, s.slice_names(), s.min_count),
                "positions": (id(r["positions"]), ex.layer, tuple(ex.heads), s.per_head,
                              tuple(ex.head_colors))}

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

    def _draw(self, *events) -> None:
        for e in events:
            self._draw_figure(e.name[: -len("_rev")])

    def _draw_figure(self, name: str, placing: bool = False) -> None:
        """Figure ``name`` shows the current results: new values into its figure, or a new
        figure where that one cannot show them (its first; a token profile with another
        number of bar series; a confusion matrix of another number of classes)."""
        if name == "positions":
            self._draw_positions()
            return
        if name == "auroc" and not (placing or self.auroc_box.objects):
            return  # drawn when placed
        shown = self._shown_data(name)
        fig = self._figs.get(name)
        if fig is not None and fig.fits(shown):
            fig.update(shown)
            return
        if name == "confusion":
            fig = confusion_figure(shown, len(shown.xticks), self._on_cell_tap)
        elif name == "tokens":
            fig = TokenProfileFigure(shown, self._on_token_tap)
        else:
            fig = CellFigure(shown, height=GRID_HEIGHT, xlabel="head", ylabel="layer",
                             on_tap=self.heads.tap)
        self._figs[name] = fig
        getattr(self, name).object = fig.fig

    def _shown_data(self, name: str) -> Cells | TokenBars:
        ex, grid = self.explorer, self._results.get("grid")
        if name == "grid":
            return grid_cells(self.settings, grid)
        if name == "auroc":
            return grid_cells(self.settings, grid, auroc=True)
        if name == "confusion":
            return confusion_shown(ex, ex.mask)
        vocab = ex.opened.store.vocab if ex.opened is not None else []
        return token_bars(self.settings, self._results.get("tokens"), vocab)

    def _draw_positions(self, *_) -> None:
        """The position figure: its data changed in place where its make-up (the lines
        drawn) is the same, else a new figure."""
        title, makeup, data = position_series(self.settings, self._results.get("positions"))
        if self.positions.object is not None and makeup == self._positions_makeup:
            update_position_figure(self.positions.object, title, data)
        else:
            self.positions.object = position_figure(title, makeup, data)
            self._positions_makeup = makeup

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
        cell = cell_at(x, y, n)
        if cell is not None:
            self.session.run(lambda: self.pick_cell(*cell))

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
                pn.Row(self.confusion, self.grid, self.auroc_box, sizing_mode="stretch_width"),
                self.ablation,
                self.profile_controls(),
                pn.Row(self.tokens, self.positions, sizing_mode="stretch_width")]

    def __panel__(self):
        return self.body
