"""Layers x heads grids: one coloured cell per head, numbers on hover, the selected layer and
head outlined; clicking a cell picks that layer and head."""

from __future__ import annotations

from collections.abc import Callable

import holoviews as hv
import numpy as np

from ..style import PLOT_OPTS
from .events import FigureEvents, InSession

KDIMS = ["x0", "y0", "x1", "y1"]


def set_ranges(xlim: tuple[float, float] | None, ylim: tuple[float, float] | None):
    """A plot hook that sets the figure's x and y ranges on every render. Plots that keep
    their axes apart (``shared_axes=False``) do not follow a DynamicMap's new data
    otherwise."""

    def hook(plot, element) -> None:
        for name, lim in (("x_range", xlim), ("y_range", ylim)):
            r = plot.handles.get(name)
            if r is not None and lim is not None:
                r.update(start=lim[0], end=lim[1], reset_start=lim[0], reset_end=lim[1])

    return hook


def layer_head_grid(values: dict[str, np.ndarray], color: str, *, title: str, cmap: str,
                    clim: tuple[float, float] | None = None, logz: bool = False,
                    layer: int | None = None, head: int | None = None, hooks=(),
                    formats: dict[str, str] | None = None, **opts) -> hv.Overlay:
    """A grid of [layers, heads] cells coloured by ``values[color]``; every array of
    ``values`` ([layers, heads]) is shown on hover, formatted by ``formats`` (default four
    decimals). ``layer`` / ``head``: the row and cell to outline."""
    first = next(iter(values.values()))
    plot_opts = {k: v for k, v in PLOT_OPTS.items() if k != "default_tools"}
    plot_opts.update(opts)
    if first.size == 0:
        return hv.Overlay([hv.Rectangles([], kdims=KDIMS, vdims=list(values))]).opts(
            hv.opts.Overlay(title=title, framewise=True, hooks=list(hooks), **plot_opts))
    n_layers, n_heads = first.shape
    ys, xs = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    data = {"x0": xs.ravel() - 0.5, "y0": ys.ravel() - 0.5, "x1": xs.ravel() + 0.5,
            "y1": ys.ravel() + 0.5, "layer": ys.ravel(), "head": xs.ravel()}
    data.update({k: np.asarray(v, dtype=np.float64).ravel() for k, v in values.items()})
    formats = formats or {}
    tips = [("layer", "@layer"), ("head", "@head")] + [
        (k, f"@{{{k}}}{{{formats.get(k, '0.0000')}}}") for k in values]
    cells = hv.Rectangles(data, kdims=KDIMS, vdims=[*values, "layer", "head"]).opts(
        color=color, cmap=cmap, colorbar=True, clabel="", line_alpha=0, tools=["hover", "tap"],
        default_tools=PLOT_OPTS["default_tools"],
        nonselection_alpha=1.0, selection_alpha=1.0, logz=logz, hover_tooltips=tips,
        framewise=True, **({"clim": clim} if clim else {}))
    outline = []
    if layer is not None and 0 <= layer < n_layers:
        outline.append(hv.Bounds((-0.5, layer - 0.5, n_heads - 0.5, layer + 0.5)).opts(
            color="#00b4d8", line_width=2))
        if head is not None and 0 <= head < n_heads:
            outline.append(hv.Bounds((head - 0.5, layer - 0.5, head + 0.5, layer + 0.5)).opts(
                color="white", line_width=3))
    fit = set_ranges((-0.5, n_heads - 0.5), (-0.5, n_layers - 0.5))
    return hv.Overlay([cells, *outline]).opts(hv.opts.Overlay(
        xticks=[(h, str(h)) for h in range(n_heads)],
        yticks=[(i, str(i)) for i in range(n_layers)], xlabel="head", ylabel="layer",
        title=title, framewise=True, hooks=[*hooks, fit], **plot_opts))


class CellPicker:
    """Turns a tap on a layers x heads grid into ``pick(layer, head)``, run in the session."""

    def __init__(self, pick: Callable[[int, int], None], shape: Callable[[], tuple[int, int]]):
        self.pick, self.shape = pick, shape
        self.session = InSession()
        self.events = FigureEvents(on_tap=self._on_tap)

    @property
    def hook(self):
        return self.events.hook

    def _on_tap(self, x=None, y=None) -> None:
        if x is None or y is None:
            return
        layer, head = int(round(y)), int(round(x))
        n_layers, n_heads = self.shape()
        if 0 <= layer < n_layers and 0 <= head < n_heads:
            self.session.run(lambda: self.pick(layer, head))
