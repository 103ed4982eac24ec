"""Browser events into a session: pointer events of Bokeh figures, callbacks run in the
session's document, and a view's model changes sent to the browser as one message."""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator

import panel as pn


@contextlib.contextmanager
def frozen() -> Iterator[None]:
    """Inside: the session document's model graph is recomputed once, at the end. Bokeh
    recomputes a document's models (a walk over every model of the page) whenever a change
    that may add models ends, and HoloViews ends one for every plot it updates: five plots
    updated one after the other walked the page five times."""
    doc = pn.state.curdoc
    if doc is not None and getattr(doc, "session_context", None) is not None:
        with doc.models.freeze():
            yield
    else:
        yield


def held(fn: Callable, *args) -> None:
    """Run ``fn`` with the session document's model changes held and sent as one message, so
    the browser renders e.g. an instance switch once instead of once per view. (Not
    :func:`frozen`: leaving a freeze always walks the page, which an update in place of a
    figure's data does not need.) Before the page has reported its first render, ``fn``
    runs unheld: Panel drops the changes of a hold that ends then (it still means to send
    the whole document, which the page has already)."""
    doc = pn.state.curdoc
    if doc is not None and getattr(doc, "session_context", None) is not None and _ready(doc):
        with pn.io.hold(doc):
            fn(*args)
    else:
        fn(*args)


def _ready(doc) -> bool:
    """Whether Panel sends what a hold of ``doc`` collected: once the page reported
    document_ready (Panel's own record of that; if it has none, assume so)."""
    connected = getattr(pn.state, "_connected", None)
    return connected is None or bool(connected.get(doc))


def in_order(fn: Callable) -> Callable:
    """``fn`` as a watcher whose changes to Bokeh models reach the page in order with
    Panel's own.

    Panel writes a widget's or pane's change to the page at once; a change made to a Bokeh
    model directly (a figure's data, ranges, ticks) goes through Bokeh's session, which
    writes it only after the callback. A later Panel message could then reach the page
    before the one that defined the models it refers to, and the page refuses it
    ("reference pNNNN isn't known"). Changes made inside :func:`held` are sent by Panel,
    in the order they were made. (Held changes do not call Python ``on_change``
    callbacks of the models changed: none of those models has one.)"""

    @functools.wraps(fn)
    def run(*args) -> None:
        held(fn, *args)

    return run


class WeakHook:
    """A HoloViews plot hook that calls a view's method while the view lives, without keeping
    it alive.

    HoloViews keeps an element's options, hooks included, in a process-wide registry until
    the element is garbage collected; a hook bound to a view would keep the view, its
    elements and so the whole session in memory after the session closed.
    """

    def __init__(self, method: Callable) -> None:
        self._method = weakref.WeakMethod(method)

    def __call__(self, plot, element) -> None:
        method = self._method()
        if method is not None:
            method(plot, element)


class InSession:
    """Runs state changes that come from HoloViews stream callbacks in the session's document.

    Those callbacks run without the Bokeh document lock; a change that touches Bokeh models
    there (moving a marker, updating a widget) fails. ``run`` queues it as a next-tick
    callback of the document the view was built for; without a server it runs at once.
    """

    def __init__(self) -> None:
        self.doc = pn.state.curdoc

    def run(self, fn: Callable[[], None]) -> None:
        doc = self.doc
        if doc is not None and getattr(doc, "session_context", None) is not None:
            doc.add_next_tick_callback(lambda: held(fn))
        else:
            fn()


class FigureEvents:
    """Taps and pointer moves on the figures of one view, wired through a plot hook.

    Bokeh's own events (``fig.on_event``), not HoloViews streams: streams whose source is a
    DynamicMap of an Overlay get no callbacks, so those plots would ignore the pointer.
    Callbacks receive data coordinates (x, y).
    """

    def __init__(self, on_tap: Callable | None = None, on_move: Callable | None = None) -> None:
        self.on_tap, self.on_move = on_tap, on_move
        self._wired: set[str] = set()

    def hook(self, plot, element) -> None:
        from bokeh import events

        fig = plot.state
        if fig.id in self._wired:  # hooks run again on every update of the same figure
            return
        self._wired.add(fig.id)
        if self.on_tap:
            fig.on_event(events.Tap, lambda e: self.on_tap(e.x, e.y))
        if self.on_move:
            fig.on_event(events.MouseMove, lambda e: self.on_move(e.x, e.y))


# A checkbox's label is a plain element beside its input (Bokeh's Checkbox), so a click on
# the words would do nothing; people click the words. One listener per page forwards such
# a click to the input, which then changes as if clicked itself.
CHECKBOX_LABEL_JS = """
if (!window.__attvizCheckboxLabels) {
  window.__attvizCheckboxLabels = true;
  document.addEventListener("click", (event) => {
    const target = event.composedPath()[0];
    if (!(target instanceof HTMLElement) || !target.classList.contains("bk-label")) return;
    const root = target.getRootNode();
    if (!(root instanceof ShadowRoot) || !root.host.classList.contains("bk-Checkbox")) return;
    const box = root.querySelector("input[type=checkbox]");
    if (box && !box.disabled) box.click();
  });
}
"""


def clickable_checkbox_labels() -> None:
    """Make a click on a checkbox's label toggle it, in the session's page."""
    from bokeh.models import CustomJS

    doc = pn.state.curdoc
    if doc is not None and getattr(doc, "session_context", None) is not None:
        doc.js_on_event("document_ready", CustomJS(code=CHECKBOX_LABEL_JS))
