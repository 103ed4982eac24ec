"""A confusion matrix as a grid of counts (gold down, predicted across), numbers in the cells
and on hover; a click on a cell is mapped back by :func:`cell_at`."""

from __future__ import annotations

import numpy as np

from .cellfigure import CellFigure, Cells

DARK_TEXT, LIGHT_TEXT = "#222", "white"


def cell_at(x: float, y: float, n: int) -> tuple[int, int] | None:
    """The (gold, predicted) cell of a click at data coordinates (x, y), or None."""
    gold, predicted = n - 1 - int(round(y)), int(round(x))
    return (gold, predicted) if 0 <= gold < n and 0 <= predicted < n else None


def confusion_cells(m: np.ndarray, names: list[str], title: str,
                    xlabel: str = "predicted") -> Cells:
    """[classes (gold), classes (``xlabel``)] counts ``m`` as coloured cells with numbers,
    coloured over this matrix's own range (a range kept from a larger slice would pale a
    small one's cells)."""
    n = len(names)
    g, p = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    g, p, counts = g.ravel(), p.ravel(), np.asarray(m).ravel()
    top = max(1.0, float(counts.max())) if counts.size else 1.0
    data = {"x0": p - 0.5, "x1": p + 0.5, "y0": n - 1 - g - 0.5, "y1": n - 1 - g + 0.5,
            "count": counts.astype(float), "gold": [names[k] for k in g],
            "predicted": [names[k] for k in p]}
    dark = counts > 0.55 * top
    labels = {"x": p.astype(float), "y": (n - 1 - g).astype(float),
              "text": [f"{v:,}" for v in counts.tolist()],
              "color": [LIGHT_TEXT if d else DARK_TEXT for d in dark.tolist()]}
    return Cells(columns=data, color="count", cmap="Blues", clim=(0, top), title=title,
                 xticks=list(enumerate(names)),
                 yticks=[(n - 1 - k, t) for k, t in enumerate(names)],
                 xlim=(-0.5, n - 0.5), ylim=(-0.5, n - 0.5),
                 tooltips=[("gold", "@gold"), (xlabel, "@predicted"),
                           ("instances", "@count{0,0}")], labels=labels)


def confusion_figure(c: Cells, n: int, on_tap, xlabel: str = "predicted",
                     min_width: int = 0) -> CellFigure:
    """A figure for the confusion matrices of ``n`` classes, at least ``min_width`` pixels
    wide (room for a long title)."""
    size = 60 + 36 * n
    return CellFigure(c, height=size + 90, width=max(size + 190, min_width), xlabel=xlabel,
                      ylabel="gold", xrotation=45, on_tap=on_tap)
