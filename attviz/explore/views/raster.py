"""Rasters aggregated on the server to the pixels shown, for long instances.

A heads x tokens heatmap of 4,096 tokens or a 4,096 x 4,096 token map is never sent whole:
the figure gets an image of at most about one cell per pixel, each cell the largest value
of the tokens it covers (so a single strong token stays visible), and when the user zooms
the server makes the image of the visible part anew at the same resolution. Zoomed in to
fewer tokens than pixels, every cell is one token and shows its exact value.

Coordinates: cell i of an axis covers [i - 0.5, i + 0.5]. Images are in Bokeh's
orientation (row 0 at the bottom, at y = 0).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

PIXELS = 1200  # cells across when the figure's width is not known yet


@dataclass
class Raster:
    """An image [rows, cols] and where it lies: from (x0, y0), dw wide and dh high; ``per``:
    tokens per image cell along x and y (1: exact values)."""

    image: np.ndarray
    x0: float
    y0: float
    dw: float
    dh: float
    per: tuple[int, int] = (1, 1)

    def data(self) -> dict:
        """The columns of a Bokeh image glyph's data source."""
        return {"image": [self.image], "x": [self.x0], "y": [self.y0], "dw": [self.dw],
                "dh": [self.dh]}

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x0 + self.dw, self.y0 + self.dh)

    @property
    def exact(self) -> bool:
        return self.per == (1, 1)


def visible(n: int, lo: float | None, hi: float | None) -> tuple[int, int]:
    """The cells [a, b) of an axis of ``n`` that the range [lo, hi] shows (all for None)."""
    a = 0 if lo is None or not math.isfinite(lo) else max(0, math.floor(lo + 0.5))
    b = n if hi is None or not math.isfinite(hi) else min(n, math.ceil(hi - 0.5) + 1)
    return (a, b) if b > a else (max(0, min(a, n - 1)), max(1, min(a, n - 1) + 1))


def pool(values: np.ndarray, axis: int, a: int, b: int, pixels: int) -> tuple[np.ndarray, int]:
    """Cells a:b of ``values`` along ``axis``, in groups of ``per`` consecutive cells (the
    largest value of each), ``per`` the fewest that leave at most ``pixels`` groups."""
    part = np.take(values, np.arange(a, b), axis=axis)
    per = max(1, math.ceil((b - a) / max(1, pixels)))
    if per == 1:
        return part, 1
    return np.maximum.reduceat(part, np.arange(0, b - a, per), axis=axis), per


def columns(values: np.ndarray, lo: float | None = None, hi: float | None = None,
            pixels: int = PIXELS) -> Raster:
    """[rows, tokens] values (row r at y = r) as an image of the tokens between x = lo and
    x = hi, at most ``pixels`` cells across; rows kept whole."""
    rows, n = values.shape
    a, b = visible(n, lo, hi)
    img, per = pool(values, 1, a, b, pixels)
    return Raster(np.ascontiguousarray(img, dtype=np.float32), a - 0.5, -0.5,
                  float(img.shape[1] * per), float(rows), (per, 1))


def square(matrix: np.ndarray, x: tuple | None = None, y: tuple | None = None,
           pixels: int = PIXELS) -> Raster:
    """A [tokens, tokens] matrix (row i drawn at y = n - 1 - i, column j at x = j) as an
    image of the part within the x and y ranges, at most ``pixels`` cells each way."""
    n = matrix.shape[0]
    flipped = matrix[::-1]  # Bokeh's orientation: row 0 at the bottom
    a, b = visible(n, *(x or (None, None)))
    c, d = visible(n, *(y or (None, None)))
    cols, px = pool(flipped[c:d], 1, a, b, pixels)
    img, py = pool(cols, 0, 0, d - c, pixels)
    return Raster(np.ascontiguousarray(img, dtype=np.float32), a - 0.5, c - 0.5,
                  float(img.shape[1] * px), float(img.shape[0] * py), (px, py))


def width_of(plot, default: int = PIXELS) -> int:
    """The figure's drawing width in pixels, when the browser has reported it."""
    try:
        w = plot.state.inner_width  # set by the browser; unset before the first layout
    except Exception:  # noqa: BLE001 - bokeh's UnsetValueError
        w = None
    return int(w) if isinstance(w, (int, float)) and w > 0 else default


class Zoom:
    """Calls ``view.on_zoom(plot, x0, x1, y0, y1)`` when a figure's ranges change in the
    browser (pan, zoom, reset); holds the view weakly (figures live in HoloViews' caches)."""

    def __init__(self, view) -> None:
        self._view = weakref.ref(view)
        self._figures: set[str] = set()

    def hook(self, plot, element) -> None:
        from bokeh.events import RangesUpdate

        fig = plot.state
        if fig.id in self._figures:
            return
        self._figures.add(fig.id)
        ref, plot_ref = self._view, weakref.ref(plot)

        def changed(event) -> None:
            view, p = ref(), plot_ref()
            if view is not None and p is not None:
                view.on_zoom(p, event.x0, event.x1, event.y0, event.y1)

        fig.on_event(RangesUpdate, changed)
