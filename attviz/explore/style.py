"""How the explorer names and colours things: head names, head and class palettes, the
scaling of values to colour, the options every plot shares."""

from __future__ import annotations

import numpy as np

from .svgtool import svg_save_tool

HEAD_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
]
CLASS_PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
]


def head_name(h: int) -> str:
    """How head ``h`` is called on the page."""
    return f"head {h}"


def head_colors(n_heads: int) -> list[str]:
    """The default colour of each of ``n_heads`` heads (the palette repeats)."""
    return [HEAD_PALETTE[h % len(HEAD_PALETTE)] for h in range(n_heads)]


def class_colors(n_classes: int) -> list[str]:
    """The fixed colour of each of ``n_classes`` classes (the palette repeats)."""
    return [CLASS_PALETTE[i % len(CLASS_PALETTE)] for i in range(n_classes)]


def intensity(values: np.ndarray, scale: str, vmax: float | None = None) -> np.ndarray:
    """Values mapped to [0, 1] for colouring: linear in value, or in log10 of the value.

    Log scale spans three decades below the largest value; zero and below map to 0.
    """
    v = np.asarray(values, dtype=np.float64)
    top = float(np.nanmax(v)) if vmax is None and v.size else float(vmax or 0.0)
    if top <= 0 or not np.isfinite(top):
        return np.zeros_like(v)
    if scale == "log":
        lo = np.log10(top) - 3.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (np.log10(np.where(v > 0, v, np.nan)) - lo) / 3.0
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)
    return np.clip(v / top, 0.0, 1.0)


# shared_axes=False: the views share dimension names (x0, y0, ...) but not their ranges
# responsive width with a fixed height: a height set on the pane instead is lost when a
# DynamicMap updates the figure
# active_tools without wheel_zoom: the mouse wheel scrolls the page; wheel zoom is a click
# away in the toolbar
# save: PNG; svg_save_tool(): SVG (HoloViews copies the tool into each figure)
PLOT_OPTS = dict(responsive=True, height=330, toolbar="above", shared_axes=False,
                 default_tools=["save", svg_save_tool(), "pan", "wheel_zoom", "box_zoom",
                                "reset"],
                 active_tools=["pan"])
