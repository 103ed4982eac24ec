"""The corpus view's head grid: a statistic's mean per layer and head over the slice, or, in
contrast mode, the difference of means between slices A and B beside each head's AUROC for
telling them apart. Clicking a head selects it and sorts the table by it."""

from __future__ import annotations

import numpy as np

from ..corpus_data import Grid
from ..corpus_state import CorpusSettings
from .cellfigure import Cells
from .cells import CellPicker, layer_head_cells

GRID_HEIGHT = 300
AUROC_TITLE = "AUROC, A against B"


def _counts(grid: Grid) -> dict[str, np.ndarray]:
    shape = grid.value.shape
    out = {"n A": np.full(shape, float(grid.n_a))}
    if grid.mean_b is not None:
        out["n B"] = np.full(shape, float(grid.n_b))
    return out


def grid_cells(settings: CorpusSettings, grid: Grid | None, auroc: bool = False) -> Cells:
    """The mean per head; in contrast mode the difference of means, or (``auroc``) each
    head's AUROC of telling A from B."""
    ex = settings.explorer
    stat = settings.statistic or ""
    where = dict(layer=ex.layer, head=ex.highlight, formats={"n A": "0,0", "n B": "0,0"})
    if grid is None:
        return layer_head_cells({"mean": np.zeros((0, 0))}, "mean", cmap="viridis",
                                title="no statistics in this store", **where)
    if auroc and grid.auroc is None:  # hidden; the same figure as in contrast mode
        blank = np.full(grid.value.shape, np.nan)
        return layer_head_cells({"AUROC": blank}, "AUROC", cmap="PuOr_r", clim=(0.0, 1.0),
                                title=AUROC_TITLE, **where)
    if grid.mean_b is None:
        return layer_head_cells({"mean": grid.value, **_counts(grid)}, "mean", cmap="viridis",
                                title=f"{stat}: mean per head (click: select)", **where)
    values = {"difference": grid.value, "mean A": grid.mean_a, "mean B": grid.mean_b,
              "AUROC": grid.auroc, **_counts(grid)}
    if auroc:
        return layer_head_cells(values, "AUROC", cmap="PuOr_r", clim=(0.0, 1.0),
                                title=AUROC_TITLE, **where)
    finite = np.abs(grid.value[np.isfinite(grid.value)])
    span = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return layer_head_cells(values, "difference", cmap="RdBu_r", clim=(-span, span),
                            title=f"{stat}: A − B (click: select)", **where)


class HeadPicker(CellPicker):
    """What a click on a head does: select it in the instance views and for the token
    profile, and order the table by its statistic, largest first."""

    def __init__(self, settings: CorpusSettings) -> None:
        self.settings = settings
        super().__init__(self._pick, self._shape)

    def _shape(self) -> tuple[int, int]:
        st = self.settings.explorer.opened
        return (st.store.meta.num_layers, st.store.meta.num_heads) if st else (0, 0)

    def _pick(self, layer: int, head: int) -> None:
        s, ex = self.settings, self.settings.explorer
        ex.select_layer_head(layer, head)
        s.head = head
        if s.statistic:
            ex.sort_by_head(s.statistic, layer, head)
