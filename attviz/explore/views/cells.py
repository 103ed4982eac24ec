"""Layers x heads grids: one coloured cell per head, numbers on hover, the selected layer and
head outlined; clicking a cell picks that layer and head."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .cellfigure import Cells
from .events import InSession

LAYER_COLOR, HEAD_COLOR = "#00b4d8", "white"


def layer_head_cells(values: dict[str, np.ndarray], color: str, *, title: str, cmap: str,
                     clim: tuple[float, float] | None = None, logz: bool = False,
                     layer: int | None = None, head: int | None = None,
                     formats: dict[str, str] | None = None,
                     rows: list[int] | None = None) -> Cells:
    """A grid of [layers, heads] cells coloured by ``values[color]``; every array of
    ``values`` ([layers, heads]) is shown on hover, formatted by ``formats`` (default four
    decimals). ``rows``: the model layer number of each row (default 0, 1, ...);
    ``layer`` / ``head``: the layer (a model layer number) and cell to outline."""
    first = next(iter(values.values()))
    n_layers, n_heads = first.shape if first.ndim == 2 else (0, 0)
    rows = list(range(n_layers)) if rows is None else list(rows)
    ys, xs = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    ys, xs = ys.ravel(), xs.ravel()
    data = {"x0": xs - 0.5, "y0": ys - 0.5, "x1": xs + 0.5, "y1": ys + 0.5,
            "layer": np.asarray(rows, dtype=np.int64)[ys] if rows else ys, "head": xs}
    data.update({k: np.asarray(v, dtype=np.float64).ravel() for k, v in values.items()})
    formats = formats or {}
    tips = [("layer", "@layer"), ("head", "@head")] + [
        (k, f"@{{{k}}}{{{formats.get(k, '0.0000')}}}") for k in values]
    boxes = []
    row = rows.index(layer) if layer in rows else None
    if row is not None and n_heads:
        boxes.append((-0.5, row - 0.5, n_heads - 0.5, row + 0.5, LAYER_COLOR, 2))
        if head is not None and 0 <= head < n_heads:
            boxes.append((head - 0.5, row - 0.5, head + 0.5, row + 0.5, HEAD_COLOR, 3))
    outlines = {name: [b[i] for b in boxes]
                for i, name in enumerate(("x0", "y0", "x1", "y1", "color", "width"))}
    return Cells(columns=data, color=color, cmap=cmap, clim=clim, log=logz, title=title,
                 xticks=[(h, str(h)) for h in range(n_heads)],
                 yticks=[(i, str(r)) for i, r in enumerate(rows)],
                 xlim=(-0.5, max(n_heads, 1) - 0.5), ylim=(-0.5, max(n_layers, 1) - 0.5),
                 tooltips=tips, outlines=outlines)


class CellPicker:
    """Turns a tap on a layers x heads grid into ``pick(layer, head)``, run in the session."""

    def __init__(self, pick: Callable[[int, int], None], shape: Callable[[], tuple[int, int]],
                 rows: Callable[[], list[int]] | None = None):
        self.pick, self.shape, self.rows = pick, shape, rows
        self.session = InSession()

    def tap(self, x=None, y=None) -> None:
        """A click at data coordinates (x, y)."""
        if x is None or y is None:
            return
        layer, head = int(round(y)), int(round(x))
        n_layers, n_heads = self.shape()
        if 0 <= layer < n_layers and 0 <= head < n_heads:
            if self.rows is not None:
                layer = self.rows()[layer]  # the model's number of the row
            self.session.run(lambda: self.pick(layer, head))
