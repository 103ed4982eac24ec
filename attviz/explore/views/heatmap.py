"""Heads x tokens heatmap of the selected layer (HoloViews), linked to the marked token;
with relations on, the rollout rows above the heads (:mod:`.scorerows`)."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..state import Explorer
from ..style import PLOT_OPTS
from ..viewdata import ViewData
from .scorerows import score_columns, score_element, score_row_names
from .tokenplot import LOG_FLOOR, Frame, TokenPlotView, token_ticks

KDIMS = ["x0", "y0", "x1", "y1"]
VDIMS = ["value", "token", "head"]


def heatmap_frame(ex: Explorer, vd: ViewData) -> Frame:
    """One rectangle per (head, token): x = shown token index, y = row of the head."""
    n, k = vd.values.shape
    xs = np.repeat(np.arange(n), k)
    ys = np.tile(np.arange(k), n)
    value = vd.values.reshape(-1).astype(np.float64)
    if ex.scale == "log":
        value = np.maximum(value, LOG_FLOOR)
    x0, x1, y0, y1 = xs - 0.5, xs + 0.5, ys - 0.5, ys + 0.5
    cols = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "value": value,
            "token": list(np.repeat(np.array(vd.tokens, dtype=object), k)),
            "head": np.tile(np.asarray(vd.heads), n)}
    # the names HoloViews gives the same columns in the figure's data source
    aliases = {"left": x0, "right": x1, "bottom": y0, "top": y1, "color": value}
    lo, hi = (float(value.min()), float(value.max())) if value.size else (0.0, 1.0)
    extra = len(score_row_names(ex))
    # the relations' token scores, as rows above the heads (none without relations)
    scores, score_aliases = score_columns(ex, vd, k)
    rows = score_row_names(ex)
    return Frame(columns=[cols, scores], aliases=[aliases, score_aliases],
                 xticks=token_ticks(vd.tokens),
                 xlim=(-0.5, n - 0.5), ylim=(-0.5, k + extra - 0.5),
                 clim=(lo, max(hi, lo + 1e-9)),
                 title=f"Self-attention, layer {vd.layer}: heads x tokens"
                 + (" and token scores" if rows else ""),
                 yticks=[(j, f"h{h}") for j, h in enumerate(vd.heads)]
                 + [(k + r, name) for r, name in enumerate(rows)])


def heatmap_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    """The heads' cells and, over them, the rows of token scores (empty without relations)."""
    vd = ex.view_data()
    if vd is None or not len(vd.positions):
        return hv.Rectangles([], kdims=KDIMS, vdims=VDIMS) * score_element([])
    f = heatmap_frame(ex, vd)
    cells = hv.Rectangles(f.columns[0], kdims=KDIMS, vdims=VDIMS).opts(
        color="value", cmap="viridis", colorbar=True, logz=ex.scale == "log", clim=f.clim,
        line_alpha=0, tools=["hover", "tap"], nonselection_alpha=1.0, selection_alpha=1.0,
        hover_tooltips=[("token", "@token"), ("head", "@head"),
                        ("self-attention", "@value{0.0000}")])
    figure = dict(
        xticks=f.xticks, xrotation=90, xlim=f.xlim, ylim=f.ylim, padding=0,
        yticks=f.yticks, xlabel="", ylabel="heads", framewise=True, title=f.title,
        hooks=hooks or [])
    overlay_opts = {k_: v for k_, v in PLOT_OPTS.items() if k_ != "default_tools"}
    return (cells.opts(default_tools=PLOT_OPTS["default_tools"])
            * score_element(f.columns[1])).opts(hv.opts.Overlay(**figure, **overlay_opts))


class HeatmapView(TokenPlotView):
    """Heads x tokens of the selected layer."""

    depends = ("instance", "layer", "heads", "scale", "hide_special", "words", "error")

    def __init__(self, **params):
        super().__init__(**params)
        rel = self.explorer.relations
        rel.param.watch(self._rows_changed, ["enabled", "gradient"])
        rel.param.watch(self._scores_changed, ["result"])

    def _rows_changed(self, *_) -> None:  # rows added or removed: the axes change
        self.revision += 1
        self._move_marker()

    def _scores_changed(self, *_) -> None:
        if not self._update_in_place():
            self.revision += 1
        self._move_marker()

    def element(self, hooks: list):
        return heatmap_element(self.explorer, hooks)

    def frame(self, vd: ViewData) -> Frame:
        return heatmap_frame(self.explorer, vd)
