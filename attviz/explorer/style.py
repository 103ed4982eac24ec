"""How the explorer names and colours things: head names, head and class palettes."""

from __future__ import annotations

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
