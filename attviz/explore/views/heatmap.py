"""Heads x tokens heatmap of the selected layer (a plain Bokeh figure), linked to the marked token;
with relations on, the rollout rows above the heads (:mod:`.scorerows`).

Instances of more than RASTER_FROM shown tokens are drawn as an image aggregated on the
server to the figure's pixels (:mod:`.raster`), made anew for the visible part whenever
the user zooms or pans; zoomed in to fewer tokens than pixels, each token's exact value.
Their rollout rows are left out (the text still shows them).
"""

from __future__ import annotations

import numpy as np
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LinearColorMapper,
    LogColorMapper,
    Quad,
    TapTool,
)
from bokeh.palettes import Viridis256

from ..state import Explorer
from ..viewdata import ViewData
from . import raster as R
from .events import in_order
from .scorerows import VDIMS as SCORE_VDIMS
from .scorerows import score_columns, score_row_names
from .tokenplot import (
    LOG_FLOOR,
    Drawn,
    Frame,
    Glyph,
    TokenPlotView,
    add_glyph,
    token_figure,
    token_ticks,
)

RASTER_FROM = 512  # more shown tokens than this: an aggregated image instead of cells

KDIMS = ["x0", "y0", "x1", "y1"]
VDIMS = ["value", "token", "head"]


def raster_mode(vd: ViewData | None) -> bool:
    """Whether the heatmap of ``vd`` is drawn as an aggregated image."""
    return vd is not None and len(vd.positions) > RASTER_FROM


def raster_values(ex: Explorer, vd: ViewData) -> np.ndarray:
    """[shown heads, shown tokens] what the image shows (float64; log floor applied)."""
    v = vd.values.T.astype(np.float64)
    return np.maximum(v, LOG_FLOOR) if ex.scale == "log" else v


def raster_frame(ex: Explorer, vd: ViewData, pixels: int = R.PIXELS) -> Frame:
    """The whole instance as one image of at most ``pixels`` columns."""
    values = raster_values(ex, vd)
    img = R.columns(values, pixels=pixels)
    n, k = values.shape[1], values.shape[0]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    return Frame(columns=[img.data()], xticks=token_ticks(vd.tokens),
                 xlim=(-0.5, n - 0.5), ylim=(-0.5, k - 0.5), clim=(lo, max(hi, lo + 1e-9)),
                 title=f"Self-attention, layer {vd.layer}: heads x {n:,} tokens (a pixel: its "
                 "tokens' largest; zoom in for each token)",
                 yticks=[(j, f"h{h}") for j, h in enumerate(vd.heads)])


def heatmap_frame(ex: Explorer, vd: ViewData) -> Frame:
    """One rectangle per (head, token): x = shown token index, y = row of the head."""
    if raster_mode(vd):
        return raster_frame(ex, vd)
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
    lo, hi = (float(value.min()), float(value.max())) if value.size else (0.0, 1.0)
    extra = len(score_row_names(ex))
    # the relations' token scores, as rows above the heads (none without relations)
    scores = score_columns(ex, vd, k)
    rows = score_row_names(ex)
    return Frame(columns=[cols, scores], xticks=token_ticks(vd.tokens),
                 xlim=(-0.5, n - 0.5), ylim=(-0.5, k + extra - 0.5),
                 clim=(lo, max(hi, lo + 1e-9)),
                 title=f"Self-attention, layer {vd.layer}: heads x tokens"
                 + (" and token scores" if rows else ""),
                 yticks=[(j, f"h{h}") for j, h in enumerate(vd.heads)]
                 + [(k + r, name) for r, name in enumerate(rows)])


def heatmap_figure(ex: Explorer, f: Frame) -> Drawn:
    """The heads' cells of ``f`` and, above them, the rows of token scores (none without
    relations); a long instance's frame: one image (see the module)."""
    fig = token_figure(f, ylabel="heads")
    fig.xaxis.axis_label = None
    mapper_type = LogColorMapper if ex.scale == "log" else LinearColorMapper
    lo, hi = f.clim or ((LOG_FLOOR, 1.0) if ex.scale == "log" else (0.0, 1.0))
    mapper = mapper_type(palette=Viridis256, low=lo, high=hi)
    fig.add_layout(ColorBar(color_mapper=mapper, title="self-attention"), "right")
    if "image" in f.columns[0]:
        source = ColumnDataSource(f.columns[0])
        image = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source,
                          color_mapper=mapper)
        fig.add_tools(HoverTool(renderers=[image], tooltips=[
            ("token", "$x{0}"), ("self-attention", "@image{0.0000}")]), TapTool())
        return Drawn(fig, [Glyph(source, mapper)])
    sources = [ColumnDataSource(c) for c in f.columns]
    cells = add_glyph(fig, Quad(left="x0", right="x1", bottom="y0", top="y1", line_alpha=0,
                                fill_color={"field": "value", "transform": mapper}), sources[0])
    scores = add_glyph(fig, Quad(left="x0", right="x1", bottom="y0", top="y1", line_alpha=0,
                                 fill_color={"field": "fill"}), sources[1])
    fig.add_tools(
        HoverTool(renderers=[cells], tooltips=[("token", "@token"), ("head", "@head"),
                                               ("self-attention", "@value{0.0000}")]),
        HoverTool(renderers=[scores], tooltips=[("token", "@token"), ("", "@row"),
                                                ("score", "@score{0.0000}")]),
        TapTool(renderers=[cells]))
    return Drawn(fig, [Glyph(sources[0], mapper), Glyph(sources[1])])


class HeatmapView(TokenPlotView):
    """Heads x tokens of the selected layer."""

    column_names = (tuple(KDIMS + VDIMS), tuple(KDIMS + SCORE_VDIMS))

    depends = ("instance", "layer", "heads", "scale", "hide_special", "words", "error")

    def __init__(self, **params):
        self.zoom = R.Zoom(self)
        super().__init__(**params)
        rel = self.explorer.relations
        rel.param.watch(in_order(self._rows_changed), ["enabled", "gradient"])
        rel.param.watch(in_order(self._scores_changed), ["result"])

    def _rows_changed(self, *_) -> None:
        """Rows of token scores added or removed: new y ticks, range and title, written into
        the figure shown (its score glyph is there, empty, without relations)."""
        if not self._update_in_place():
            self.revision += 1
        self._move_marker()

    def _scores_changed(self, *_) -> None:
        if not self._update_in_place():
            self.revision += 1
        self._move_marker()

    def draw(self, f: Frame) -> Drawn:
        drawn = heatmap_figure(self.explorer, f)
        self.zoom.hook(drawn, None)
        return drawn

    def on_zoom(self, plot, x0, x1, y0, y1) -> None:
        """The visible tokens anew at the figure's resolution (long instances only)."""
        vd = self.explorer.view_data()
        glyph = self._glyph_plots(plot)[0]
        source = glyph.handles.get("source")
        if not raster_mode(vd) or source is None or "image" not in source.data:
            return
        img = R.columns(raster_values(self.explorer, vd), x0, x1, R.width_of(plot))
        source.data = img.data()
        a, b = int(img.x0 + 0.5), int(img.x0 + 0.5 + img.dw)
        ticks = [(a + i, t) for i, t in token_ticks(vd.tokens[a:b])]
        axis = plot.handles.get("xaxis")
        if axis is not None and hasattr(axis.ticker, "ticks"):
            axis.ticker.ticks = [t for t, _ in ticks]
            axis.major_label_overrides = dict(ticks)

    def frame(self, vd: ViewData) -> Frame:
        return heatmap_frame(self.explorer, vd)
