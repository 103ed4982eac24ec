"""One session's ablation: the heads it switches off, the selected instance re-run with them
off, and the slice run with them off (with progress and cancel).

Both go to the process's worker (:mod:`attviz.relations.service`), the one that computes
relations, and find and load the store's model the same way. The instance request is
sent whenever the heads or the instance change while heads are off; a newer request
supersedes it. A slice runs one batch per worker task, so other sessions' requests run
between its batches; its progress and its result are applied in the session's document
on the next tick. The result also feeds the sidebar's filter "prediction changed by the
ablation" (:class:`attviz.explore.filters.Filters`). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import param

from .ablation_data import (
    SLICE_LIMIT,
    SliceResult,
    heads_text,
    mean_abs,
    slice_instances,
    top_heads,
)
from .relations_state import in_document


@dataclass(frozen=True)
class InstanceResult:
    """The selected instance re-run: ``probabilities`` [classes] with ``heads`` off."""

    store: str
    instance: int
    heads: tuple
    probabilities: np.ndarray
    seconds: float
    model: str


class AblationState(param.Parameterized):
    """Which heads one session switches off, and what that does."""

    heads_off = param.List(default=[], doc="(layer, head) pairs switched off")
    click_toggles = param.Boolean(default=False, label="a click on a cell switches the head "
                                  "off / on", doc="else it selects the layer and head")
    k = param.Integer(default=3, bounds=(1, None), label="k", doc="how many heads to choose")
    # the selected instance
    result = param.Parameter(default=None, doc="InstanceResult of the selected instance")
    status = param.String(default="")
    busy = param.Boolean(default=False)
    problem = param.Boolean(default=False)
    # the slice
    slice_result = param.Parameter(default=None, doc="the last SliceResult")
    slice_status = param.String(default="")
    slice_busy = param.Boolean(default=False)
    done = param.Integer(default=0, doc="instances of the running slice done")
    total = param.Integer(default=0, doc="instances of the running slice")

    def __init__(self, explorer, **params) -> None:
        super().__init__(**params)
        self.explorer = explorer
        self.in_session = in_document(_curdoc())
        self._generation = 0
        self._slice_generation = 0
        self.future = None
        self.slice_future = None
        explorer.param.watch(self._configure, ["store_name"])
        explorer.param.watch(self._request, ["instance", "error"])
        self.param.watch(self._request, ["heads_off"])

    @property
    def model_root(self):
        return self.explorer.relations.model_root

    def _configure(self, *_) -> None:
        self.cancel_slice()
        self._generation += 1
        self.param.update(heads_off=[], result=None, status="", busy=False, problem=False,
                          slice_result=None, slice_status="", done=0, total=0)
        self.explorer.filters.ablation = None

    # -- choosing heads -----------------------------------------------------------------------
    def toggle(self, layer: int, head: int) -> None:
        """Switch head ``head`` of ``layer`` off, or on again."""
        cell = (int(layer), int(head))
        off = [h for h in self.heads_off if h != cell]
        self.heads_off = off if len(off) < len(self.heads_off) else sorted([*off, cell])

    def click(self, layer: int, head: int) -> None:
        """What a click on cell (layer, head) of the layers x heads view does."""
        if self.click_toggles:
            self.toggle(layer, head)
        else:
            self.explorer.select_layer_head(layer, head)

    def layer_off(self, layer: int | None = None) -> None:
        """Every head of ``layer`` (default: the selected layer) off, besides those off."""
        ex = self.explorer
        layer = ex.layer if layer is None else int(layer)
        heads = range(ex.opened.store.meta.num_heads) if ex.opened is not None else []
        self.heads_off = sorted({*self.heads_off, *((layer, h) for h in heads)})

    def most_important(self) -> None:
        """The ``k`` heads of largest mean |importance| over the sidebar's slice (Michel
        et al.'s head importance score) off, instead of those off."""
        ex = self.explorer
        if ex.opened is None:
            return
        slices = ex.opened.slices
        if "importance" not in slices.statistics:
            self.status = ("This store has no head importance: precompute it with "
                           "--importance (attviz index cannot add it).")
            self.problem = True
            return
        self.heads_off = top_heads(mean_abs(slices.matrix("importance"), ex.mask), self.k)

    def largest_contrast(self, grid) -> None:
        """The ``k`` heads whose statistic differs most between slices A and B (the corpus
        view's grid in contrast mode) off, instead of those off."""
        if grid is not None and grid.mean_b is not None:
            self.heads_off = top_heads(np.abs(grid.value), self.k)

    def set_text(self, text: str) -> str:
        """Heads written as ``3.7, 5.1``; returns "" or why ``text`` was not taken."""
        from .ablation_data import parse_heads

        meta = self.explorer.opened.store.meta if self.explorer.opened else None
        if meta is None:
            return "no store"
        try:
            heads = parse_heads(text, meta.num_layers, meta.num_heads)
        except ValueError as e:
            return str(e)
        self.heads_off = heads
        return ""

    @property
    def text(self) -> str:
        return heads_text(self.heads_off)

    # -- the selected instance ------------------------------------------------------------------
    def current(self) -> InstanceResult | None:
        """The result for the selected instance and the heads now off (None while not)."""
        ex, res = self.explorer, self.result
        if res is None or ex.opened is None:
            return None
        if (res.store, res.instance, res.heads) != (str(ex.opened.path), ex.instance,
                                                    tuple(self.heads_off)):
            return None
        return res

    def _request(self, *_) -> None:
        ex = self.explorer
        self._generation += 1
        if not self.heads_off or ex.opened is None or ex.instance < 0 or ex.error:
            self.param.update(busy=False, status="", problem=False)
            return
        if self.current() is not None:
            return
        inst = ex.current()
        if inst is None:
            return
        from ..relations.service import AblationRequest, service

        gen, heads = self._generation, tuple(self.heads_off)
        store, prov, near = self._model_args()
        self.param.update(busy=True, problem=False,
                          status=f"Running instance {inst.index:,} with {len(heads)} head(s) "
                          "off…")
        req = AblationRequest(prov, [inst.token_ids], list(heads), 1, self.model_root, near,
                              current=lambda: gen == self._generation)
        key = (store, int(inst.index), heads)
        self.future = service().submit_ablation(
            req, lambda out: self.in_session(lambda: self._apply(gen, key, out)))

    def _model_args(self) -> tuple[str, dict, str]:
        opened = self.explorer.opened
        near = opened.path if opened.path.is_dir() else opened.path.parent
        return str(opened.path), dict(opened.store.meta.provenance), str(near)

    def _apply(self, gen: int, key: tuple, outcome) -> None:
        if gen != self._generation:
            return
        if outcome.ablation is None:
            self.param.update(busy=False, result=None, status=outcome.message, problem=True)
            return
        job = outcome.ablation
        res = InstanceResult(*key, job.probabilities[0], job.seconds, outcome.model)
        self.param.update(busy=False, problem=False, result=res,
                          status=f"Re-run with {len(key[2])} head(s) off in "
                          f"{job.seconds:.2f} s.")

    def wait(self, timeout: float = 120) -> None:
        """Until the last instance request has run (without a server, e.g. in tests)."""
        if self.future is not None:
            self.future.result(timeout=timeout)

    # -- the slice ---------------------------------------------------------------------------
    def run_slice(self, batch_size: int = 16, limit: int | None = None) -> None:
        """Run the sidebar's slice (up to ``limit``, default SLICE_LIMIT, instances, else a
        uniform sample of that many) with the heads off; one run per session at a time (a
        new one replaces it)."""
        ex = self.explorer
        if ex.opened is None or not self.heads_off:
            self.slice_status = "Choose the heads to switch off first."
            return
        self.cancel_slice(quiet=True)
        idx, sampled = slice_instances(ex.mask, limit or SLICE_LIMIT)
        if not len(idx):
            self.slice_status = "The slice is empty."
            return
        from ..relations.service import AblationRequest, service

        self._slice_generation += 1
        gen, heads = self._slice_generation, list(self.heads_off)
        store, prov, near = self._model_args()
        shared = ex.opened
        size = int(ex.mask.sum())

        def token_ids():  # read in the worker, not on the event loop
            counts, ids, _ = shared.store.read_tokens(idx)
            return np.split(ids, np.cumsum(counts)[:-1])

        def progress(done: int, total: int) -> None:
            self.in_session(lambda: self._progress(gen, done, total))

        def finished(outcome) -> None:
            self.in_session(lambda: self._apply_slice(gen, heads, idx, sampled, size, outcome))

        what = (f"a uniform sample of {len(idx):,} of the slice's {size:,} instances"
                if sampled else f"all {len(idx):,} instances of the slice")
        self.param.update(slice_busy=True, done=0, total=len(idx),
                          slice_status=f"Running {what} with {heads_text(heads)} off…")
        req = AblationRequest(prov, token_ids, heads, batch_size, self.model_root, near,
                              current=lambda: gen == self._slice_generation, progress=progress)
        self.slice_future = service().submit_ablation(req, finished)

    def cancel_slice(self, quiet: bool = False) -> None:
        """Stop the running slice before its next batch."""
        if not self.slice_busy:
            return
        self._slice_generation += 1
        self.param.update(slice_busy=False, done=0, total=0,
                          slice_status="" if quiet else "Cancelled.")

    def _progress(self, gen: int, done: int, total: int) -> None:
        if gen == self._slice_generation and self.slice_busy:
            self.param.update(done=done, total=total)

    def _apply_slice(self, gen, heads, idx, sampled, size, outcome) -> None:
        if gen != self._slice_generation:
            return
        if outcome.ablation is None:
            self.param.update(slice_busy=False, slice_status=outcome.message)
            return
        cols = self.explorer.opened.cols
        job = outcome.ablation
        res = SliceResult(heads, idx, cols.label[idx].astype(np.int64),
                          cols.prediction[idx].astype(np.int64), job.probabilities, sampled,
                          size, job.seconds, outcome.model)
        f = self.explorer.filters
        f.ablation = res
        self.param.update(slice_busy=False, slice_result=res,
                          slice_status=f"Ran {len(idx):,} instances in {job.seconds:.2f} s.")
        if f.ablation_changed or f.ablation_cell is not None:
            f.param.trigger("ablation_changed")  # the filter is on: refilter with the result

    def wait_slice(self, timeout: float = 300) -> None:
        if self.slice_future is not None:
            self.slice_future.result(timeout=timeout)


def _curdoc():
    import panel as pn

    return pn.state.curdoc


__all__ = ["AblationState", "InstanceResult", "SLICE_LIMIT"]
