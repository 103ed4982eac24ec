"""One session's relations: whether they are asked for, their settings, the request for the
selected instance and its result, and what colours the text from them.

A request goes to the process's worker (:mod:`attviz.relations.service`) whenever the
instance, the layer or the gradient settings change while relations are on; a newer one
supersedes it, and its result, applied in the session's document on the next tick, is
dropped. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import panel as pn
import param

from .choices import class_choices
from .relations_data import Check, check, colour_top, head_label, shown_matrix, shown_scores
from .style import head_name
from .viewdata import ViewData

MEAN = "mean of the shown heads"
DIRECTIONS = {"gives (its row)": "gives", "receives (its column)": "receives"}
COLOURS = {"the sidebar's choice": None, "rollout": "rollout",
           "gradient-weighted rollout": "gradient", "the tapped token": "tapped"}
PREDICTED = "the predicted class"


@dataclass(frozen=True)
class Key:
    """What a result was computed for."""

    store: str
    instance: int
    layer: int
    gradient: bool
    target: int | None


@dataclass(eq=False)
class Result:
    key: Key
    relations: object  # attviz.relations.compute.Relations
    check: Check
    model: str


@dataclass
class TextColour:
    """Values that colour the text (one per shown unit), their label and colour, and the
    value given the full colour (None: the largest)."""

    values: np.ndarray
    label: str
    color: str
    top: float | None


def in_document(doc) -> Callable[[Callable[[], None]], None]:
    """How a worker thread hands a change to the session of ``doc``: as a next-tick callback
    of its document (changes sent as one message; Panel told which session it is, so what
    it builds refers to this server's resources), or at once without a server."""
    if doc is None or getattr(doc, "session_context", None) is None:
        return lambda fn: fn()

    from panel.io.state import set_curdoc

    def run(fn: Callable[[], None]) -> None:
        def held() -> None:
            with set_curdoc(doc), pn.io.hold(doc):
                fn()

        doc.add_next_tick_callback(held)

    return run


class RelationsState(param.Parameterized):
    """The relations of one session's selected instance."""

    enabled = param.Boolean(default=False, doc="re-run the model on the selected instance")
    head = param.Selector(default=None, objects={MEAN: None},
                          doc="the head whose map is shown, or the mean of the shown heads")
    direction = param.Selector(default="gives", objects=DIRECTIONS,
                               doc="a token's row (what it gives) or column (what it receives)")
    colour = param.Selector(default=None, objects=COLOURS, doc="what colours the text")
    gradient = param.Boolean(default=False,
                             doc="also the gradient-weighted rollout (one backward pass)")
    target = param.Selector(default=None, objects={PREDICTED: None},
                            doc="the class of the gradient-weighted rollout")
    tapped = param.Integer(default=-1, doc="the tapped token (position), -1 none")
    result = param.Parameter(default=None, doc="the current Result, or None")
    status = param.String(default="", doc="one sentence on the last request")
    busy = param.Boolean(default=False)
    problem = param.Boolean(default=False, doc="the status is a problem: no model, or the "
                            "diagonal differs from the store")

    def __init__(self, explorer, model_root: str | None = None, **params) -> None:
        super().__init__(**params)
        self.explorer = explorer
        self.model_root = model_root
        self.in_session = in_document(pn.state.curdoc)
        self._generation = 0
        self.future: Future | None = None
        explorer.param.watch(self._configure, ["store_name"])
        explorer.param.watch(self._request, ["instance", "layer", "error"])
        explorer.param.watch(self._untap, ["instance", "words"])
        explorer.param.watch(self._sidebar_colour, ["highlight", "aggregation"])
        self.param.watch(self._request, ["enabled", "gradient", "target"])
        self.param.watch(self._want_gradient, ["colour"])
        self._configure()

    # -- settings ---------------------------------------------------------------------------
    def _configure(self, *_) -> None:
        opened = self.explorer.opened
        n_heads = opened.store.meta.num_heads if opened is not None else 0
        names = opened.label_names if opened is not None else []
        with param.parameterized.discard_events(self):
            self.param.head.objects = {MEAN: None, **{head_name(h): h for h in range(n_heads)}}
            self.head = None
            self.param.target.objects = {PREDICTED: None, **class_choices(names)}
            self.target = None
            self.tapped = -1
            self.result = None
            self.status = ""
        self._generation += 1
        self.param.trigger("head", "target", "result")
        self._request()

    def _untap(self, *_) -> None:
        self.tapped = -1
        if self.colour == "tapped":
            self.colour = None

    def _sidebar_colour(self, *_) -> None:
        self.colour = None  # the sidebar's choice, made last, colours the text

    def _want_gradient(self, event) -> None:
        if event.new is not None:
            self.enabled = True
        if event.new == "gradient":
            self.gradient = True

    def tap(self, position: int) -> None:
        """A token was tapped: with relations on, the text shows its row or column."""
        if not self.enabled or position < 0:
            return
        with param.parameterized.batch_call_watchers(self):
            self.tapped = int(position)
            self.colour = "tapped"

    # -- requests ---------------------------------------------------------------------------
    def key(self) -> Key | None:
        ex = self.explorer
        if not self.enabled or ex.opened is None or ex.instance < 0 or ex.error:
            return None
        return Key(str(ex.opened.path), int(ex.instance), int(ex.layer), bool(self.gradient),
                   self.target)

    def current(self):
        """The relations of the selected instance and layer (None while not there)."""
        key = self.key()
        res = self.result
        return res.relations if res is not None and key is not None and res.key == key else None

    def _request(self, *_) -> None:
        key = self.key()
        if key is None or (self.result is not None and self.result.key == key):
            self.busy = False
            return
        from ..relations.service import Request, service

        self._generation += 1
        gen = self._generation
        ex = self.explorer
        inst = ex.current()
        prov = dict(ex.opened.store.meta.provenance)
        self.busy, self.problem = True, False
        self.status = f"Running the model on instance {inst.index:,}…"
        near = ex.opened.path if ex.opened.path.is_dir() else ex.opened.path.parent
        req = Request(prov, inst.token_ids, key.layer, key.gradient, key.target,
                      self.model_root, str(near), current=lambda: gen == self._generation)
        self.future = service().submit(
            req, lambda out: self.in_session(
                lambda: self._apply(gen, key, inst.attention, str(prov.get("dtype", "")),
                                    out)))

    def _apply(self, gen: int, key: Key, stored: np.ndarray, dtype: str, outcome) -> None:
        if gen != self._generation:  # superseded while it ran: dropped
            return
        with param.parameterized.batch_call_watchers(self):
            self.busy = False
            if outcome.relations is None:
                self.result = None
                self.status = outcome.message
                self.problem = True
                return
            rel = outcome.relations
            store = self.explorer.opened.store if self.explorer.opened else None
            self.result = Result(key, rel, check(
                rel.diagonal, stored, dtype or "float32",
                tuple(store.meta.layers) if store else None,
                store.precision if store else 16), outcome.model)
            self.status = self.describe()
            self.problem = not self.result.check.matches

    def describe(self) -> str:
        res = self.result
        if res is None:
            return self.status
        rel = res.relations
        return (f"Layer {rel.layer} recomputed in {rel.seconds:.2f} s; the diagonal "
                f"{res.check.text}.")

    def wait(self, timeout: float = 120) -> None:
        """Until the last request has run (for use without a server, e.g. in tests)."""
        if self.future is not None:
            self.future.result(timeout=timeout)

    # -- what the views draw ------------------------------------------------------------------
    def matrix(self, vd: ViewData) -> np.ndarray | None:
        """[shown, shown] attention of the chosen head (or mean) between the shown units."""
        rel = self.current()
        if rel is None or vd is None:
            return None
        return shown_matrix(vd, rel.maps, self.head)

    def scores(self, vd: ViewData) -> dict[str, np.ndarray]:
        """The token scores of the shown units: rollout, and gradient-weighted rollout when
        computed (name -> [shown])."""
        rel = self.current()
        if rel is None or vd is None:
            return {}
        out = {"rollout": shown_scores(vd, rel.rollout)}
        if rel.gradient is not None:
            out["gradient rollout"] = shown_scores(vd, rel.gradient)
        return out

    def text_colour(self, vd: ViewData) -> TextColour | None:
        """What colours the text when a relation does (None: the sidebar's choice)."""
        rel = self.current()
        if self.colour is None or rel is None or vd is None:
            return None
        names = vd.instance.tokens
        source = names[rel.row] if 0 <= rel.row < len(names) else "the first token"
        if self.colour in ("rollout", "gradient"):
            scores = self.scores(vd).get("rollout" if self.colour == "rollout"
                                         else "gradient rollout")
            if scores is None:
                return None
            label = f"attention rollout from {source}"
            if self.colour == "gradient":
                cls = self.explorer.label_names[rel.target]
                label = f"gradient-weighted rollout from {source} for class {cls}"
            return TextColour(scores, label, "#e6550d", colour_top(scores, vd, rel.row))
        u = np.flatnonzero(vd.positions == self.tapped)
        if not len(u):
            return None
        m = self.matrix(vd)
        values = m[u[0], :] if self.direction == "gives" else m[:, u[0]]
        verb = "gives" if self.direction == "gives" else "receives"
        label = (f"the attention “{vd.tokens[u[0]]}” {verb} (layer {rel.layer}, "
                 f"{head_label(self.head, vd.heads)})")
        return TextColour(values, label, "#2b6cb0", colour_top(values, vd, self.tapped))
