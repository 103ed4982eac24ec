"""Token scores of the relations (rollout, gradient-weighted rollout) as extra rows of the
heads x tokens heatmap, each row in its own colour scale (scaled to its largest value,
leaving out the token the rollout starts from), the value on hover."""

from __future__ import annotations

import numpy as np
from bokeh.palettes import Oranges256

from ..relations_data import colour_top
from ..style import intensity
from ..viewdata import ViewData

KDIMS = ["x0", "y0", "x1", "y1"]
VDIMS = ["fill", "score", "token", "row"]
PALETTE = Oranges256[::-1]  # light to dark


def score_row_names(ex) -> list[str]:
    """The extra rows the heatmap has: none unless relations are on."""
    rel = ex.relations
    if not rel.enabled:
        return []
    return ["rollout", "gradient rollout"] if rel.gradient else ["rollout"]


def score_columns(ex, vd: ViewData, first_row: int) -> dict:
    """Columns of the score rectangles (rows from ``first_row`` up; none until computed)."""
    names = score_row_names(ex)
    scores = ex.relations.scores(vd)
    rel = ex.relations.current()
    xs, ys, fill, value, token, row = [], [], [], [], [], []
    n = len(vd.positions)
    for r, name in enumerate(names):
        s = scores.get(name)
        if s is None:
            continue
        alpha = intensity(s, ex.scale, colour_top(s, vd, rel.row if rel is not None else 0))
        xs.append(np.arange(n))
        ys.append(np.full(n, first_row + r))
        fill += [PALETTE[int(a * (len(PALETTE) - 1))] for a in alpha]
        value.append(s)
        token += list(vd.tokens)
        row += [name] * n
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    fill = np.array(fill, dtype=object)  # colours, also when there is none
    cols = {"x0": x - 0.5, "y0": y - 0.5, "x1": x + 0.5, "y1": y + 0.5, "fill": fill,
            "score": np.concatenate(value) if value else np.zeros(0), "token": token,
            "row": row}
    return cols
