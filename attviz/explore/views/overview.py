"""Layer x head overview: the selected instance's mean self-attention per head per layer;
clicking a cell selects that layer and head, or (the ablation's "a click switches the head
off / on") toggles the head. Heads switched off are crossed: a glyph the plot hook adds to
the figure, whose data is replaced in place when the heads change (no re-render)."""

from __future__ import annotations

import weakref

import holoviews as hv
import panel as pn
import param

from ..state import Explorer
from ..viewdata import layer_head_means
from .cells import CellPicker, layer_head_grid
from .events import WeakHook

OFF_COLOR = "#00e5ff"


def overview_element(ex: Explorer, hooks: list | None = None) -> hv.Overlay:
    inst = ex.current()
    means = layer_head_means(inst, ex.hide_special)  # [stored layers, heads]
    verb = "switch off / on" if ex.ablation.click_toggles else "select"
    return layer_head_grid({"mean": means}, "mean", cmap="magma", logz=ex.scale == "log",
                           layer=ex.layer, head=ex.highlight, hooks=hooks or [],
                           rows=list(inst.layers) if inst is not None else None,
                           title=f"Mean self-attention per layer and head (click: {verb}; "
                           "✕ switched off)")


def off_data(heads_off: list[tuple[int, int]]) -> dict[str, list[int]]:
    """Where the crosses go: x the head, y the layer."""
    return {"x": [h for _, h in heads_off], "y": [layer for layer, _ in heads_off]}


class OverviewView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.picker = CellPicker(ex.ablation.click, self._shape,
                                 lambda: list(ex.stored_layers))
        self._marks = weakref.WeakValueDictionary()  # figure id -> its crosses' data source
        # the callback holds this view (so the picker) as long as the plot lives; the hooks
        # hold the picker and this view weakly (events.WeakHook)
        self.map = hv.DynamicMap(pn.bind(lambda *a: self._element(),
                                         ex.param.instance,
                                         ex.param.layer, ex.param.highlight, ex.param.scale,
                                         ex.param.hide_special, ex.param.error,
                                         ex.ablation.param.click_toggles))
        self.pane = pn.pane.HoloViews(self.map, sizing_mode="stretch_width")
        ex.ablation.param.watch(self._move_marks, "heads_off")

    def _element(self) -> hv.Overlay:
        return overview_element(self.explorer, [WeakHook(self.picker.hook),
                                                WeakHook(self._marks_hook)])

    def _marks_hook(self, plot, element) -> None:
        """Add the crosses to a new figure; set them on every render."""
        from bokeh.models import ColumnDataSource

        fig = plot.state
        source = self._marks.get(fig.id)
        if source is None:
            source = ColumnDataSource(off_data([]))
            fig.scatter("x", "y", source=source, marker="x", size=18, line_width=3,
                        color=OFF_COLOR, name="heads-off")
            self._marks[fig.id] = source
        source.data = off_data(self.explorer.ablation.heads_off)

    def _move_marks(self, event) -> None:
        for source in list(self._marks.values()):
            source.data = off_data(event.new)

    def _shape(self) -> tuple[int, int]:
        means = layer_head_means(self.explorer.current(), self.explorer.hide_special)
        return means.shape if means.ndim == 2 else (0, 0)

    def __panel__(self):
        return self.pane
