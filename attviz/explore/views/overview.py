"""Layer x head overview: the selected instance's mean self-attention per head per layer;
clicking a cell selects that layer and head, or (the ablation's "a click switches the head
off / on") toggles the head. Heads switched off are crossed. One plain Bokeh figure, whose
data is replaced in place on every change (no re-render)."""

from __future__ import annotations

import panel as pn
import param
from bokeh.models import ColumnDataSource, Scatter

from ..state import Explorer
from ..viewdata import layer_head_means
from .cellfigure import CellFigure, Cells
from .cells import CellPicker, layer_head_cells
from .events import in_order
from .tokenplot import add_glyph

OFF_COLOR = "#00e5ff"
HEIGHT = 330
DEPENDS = ("instance", "layer", "highlight", "scale", "hide_special", "error")


def overview_cells(ex: Explorer) -> Cells:
    inst = ex.current()
    means = layer_head_means(inst, ex.hide_special)  # [stored layers, heads]
    verb = "switch off / on" if ex.ablation.click_toggles else "select"
    return layer_head_cells({"mean": means}, "mean", cmap="magma", logz=ex.scale == "log",
                            layer=ex.layer, head=ex.highlight,
                            rows=list(inst.layers) if inst is not None else None,
                            title=f"Mean self-attention per layer and head (click: {verb}; "
                            "✕ switched off)")


def off_data(heads_off: list[tuple[int, int]], rows: list[int]) -> dict[str, list[int]]:
    """Where the crosses go: x the head, y the row of its layer (``rows``: the model layer
    of each row)."""
    at = {layer: i for i, layer in enumerate(rows)}
    shown = [(at[layer], h) for layer, h in heads_off if layer in at]
    return {"x": [h for _, h in shown], "y": [y for y, _ in shown]}


class OverviewView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.picker = CellPicker(ex.ablation.click, self._shape,
                                 lambda: list(ex.stored_layers))
        self.figure = CellFigure(overview_cells(ex), height=HEIGHT, xlabel="head",
                                 ylabel="layer", on_tap=self.picker.tap)
        self.marks = ColumnDataSource(off_data([], []))
        cross = Scatter(x="x", y="y", marker="x", size=18, line_width=3, line_color=OFF_COLOR)
        add_glyph(self.figure.fig, cross, self.marks).name = "heads-off"
        self._move_marks()
        self.pane = pn.pane.Bokeh(self.figure.fig, sizing_mode="stretch_width")
        ex.param.watch(in_order(self._update), list(DEPENDS))
        ex.ablation.param.watch(in_order(self._update), "click_toggles")
        ex.ablation.param.watch(in_order(self._move_marks), "heads_off")

    def _update(self, *_) -> None:
        self.figure.update(overview_cells(self.explorer))
        self._move_marks()

    def _move_marks(self, *_) -> None:
        ex = self.explorer
        self.marks.data = off_data(ex.ablation.heads_off, list(ex.stored_layers))

    def _shape(self) -> tuple[int, int]:
        means = layer_head_means(self.explorer.current(), self.explorer.hide_special)
        return means.shape if means.ndim == 2 else (0, 0)

    def __panel__(self):
        return self.pane
