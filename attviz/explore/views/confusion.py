"""A confusion matrix as a grid of counts (gold down, predicted across), numbers on hover;
a click on a cell is handled by the caller's hooks (:class:`.events.FigureEvents`)."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..style import PLOT_OPTS
from .cells import set_ranges


def cell_at(x: float, y: float, n: int) -> tuple[int, int] | None:
    """The (gold, predicted) cell of a click at data coordinates (x, y), or None."""
    gold, predicted = n - 1 - int(round(y)), int(round(x))
    return (gold, predicted) if 0 <= gold < n and 0 <= predicted < n else None


def confusion_grid(m: np.ndarray, names: list[str], hooks: list, title: str,
                   xlabel: str = "predicted", min_width: int = 0) -> hv.Overlay:
    """[classes (gold), classes (``xlabel``)] counts ``m`` as coloured cells with numbers;
    at least ``min_width`` pixels wide (room for a long title)."""
    n = len(names)
    g, p = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    data = {"x0": p.ravel() - 0.5, "x1": p.ravel() + 0.5, "y0": n - 1 - g.ravel() - 0.5,
            "y1": n - 1 - g.ravel() + 0.5, "count": m.ravel().astype(float),
            "gold": [names[k] for k in g.ravel()],
            "predicted": [names[k] for k in p.ravel()]}
    cells = hv.Rectangles(data, kdims=["x0", "y0", "x1", "y1"],
                          vdims=["count", "gold", "predicted"]).opts(
        color="count", cmap="Blues", logz=False, colorbar=True, line_color="white",
        tools=["hover", "tap"], nonselection_alpha=1.0, framewise=True,
        clim=(0, max(1.0, float(m.max()))),  # this matrix's range: a redraw keeps no other
        default_tools=PLOT_OPTS["default_tools"],
        hover_tooltips=[("gold", "@gold"), (xlabel, "@predicted"),
                        ("instances", "@count{0,0}")])
    dark = m.ravel() > 0.55 * max(1, m.max())
    labels = [hv.Labels({"x": p.ravel()[sel], "y": n - 1 - g.ravel()[sel],
                         "text": [f"{v:,}" for v in m.ravel()[sel]]},
                        kdims=["x", "y"], vdims=["text"]).opts(text_font_size="9pt",
                                                               text_color=color)
              for sel, color in ((~dark, "#222"), (dark, "white"))]
    size = 60 + 36 * n
    opts = {k: v for k, v in PLOT_OPTS.items() if k not in ("default_tools", "responsive")}
    opts.update(height=size + 90, width=max(size + 150, min_width))
    return hv.Overlay([cells, *labels]).opts(hv.opts.Overlay(
        xticks=list(enumerate(names)), yticks=[(n - 1 - k, t) for k, t in enumerate(names)],
        xrotation=45, xlabel=xlabel, ylabel="gold",
        hooks=[*hooks, set_ranges((-0.5, n - 0.5), (-0.5, n - 0.5))],
        title=title, framewise=True, **opts))
