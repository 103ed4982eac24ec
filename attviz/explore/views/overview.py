"""Layer x head overview: the selected instance's mean self-attention per head per layer;
clicking a cell selects that layer and head, or (the ablation's "a click switches the head
off / on") toggles the head; heads switched off are crossed."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import param

from ..state import Explorer
from ..viewdata import layer_head_means
from .cells import CellPicker, layer_head_grid
from .events import WeakHook

OFF_COLOR = "#00e5ff"


def off_marks(heads_off: list[tuple[int, int]]) -> hv.Points:
    """A cross on each head switched off (x: head, y: layer)."""
    return hv.Points([(h, layer) for layer, h in heads_off], kdims=["x", "y"]).opts(
        marker="x", size=18, line_width=3, color=OFF_COLOR, tools=[])


def overview_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    means = layer_head_means(ex.current(), ex.hide_special)  # [layers, heads]
    ab = ex.ablation
    verb = "switch off / on" if ab.click_toggles else "select"
    return layer_head_grid({"mean": means}, "mean", cmap="magma", logz=ex.scale == "log",
                           layer=ex.layer, head=ex.highlight, hooks=hooks or [],
                           marks=[off_marks(ab.heads_off)] if means.size else [],
                           title=f"Mean self-attention per layer and head (click: {verb}; "
                           "✕ switched off)")


class OverviewView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.picker = CellPicker(ex.ablation.click, self._shape)
        # the callback holds this view (so the picker) as long as the plot lives; the hook
        # holds the picker weakly (events.WeakHook)
        self.map = hv.DynamicMap(pn.bind(lambda *a: self._element(),
                                         ex.param.instance,
                                         ex.param.layer, ex.param.highlight, ex.param.scale,
                                         ex.param.hide_special, ex.param.error,
                                         ex.ablation.param.heads_off,
                                         ex.ablation.param.click_toggles))
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width")

    def _element(self) -> hv.Overlay:
        return overview_element(self.explorer, [WeakHook(self.picker.hook)])

    def _shape(self) -> tuple[int, int]:
        means = layer_head_means(self.explorer.current(), self.explorer.hide_special)
        return means.shape if means.ndim == 2 else (0, 0)

    def __panel__(self):
        return self.pane
