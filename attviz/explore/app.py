"""The explorer page for one browser session: the header, the sidebar and the linked views
of the selected instance, with the address bar kept in step. ``apps/main.py`` only calls
:func:`build_app`."""

from __future__ import annotations

import argparse
import gc
import html
import os
import sys
from typing import Protocol

import holoviews as hv
import panel as pn
import param
from bokeh.settings import settings as bokeh_settings
from holoviews.util import extension as hv_extension

from . import bokehdefaults, notebook
from .address import sync_address
from .catalog import Scope
from .release import release_after_close
from .sidebar import sidebar
from .state import Explorer
from .viewdata import instance_csv
from .views import (
    HeatmapView,
    InstanceTable,
    OverviewView,
    ProbabilitiesView,
    SequenceView,
    SeriesView,
)
from .views.ablation import InstanceAblationView
from .views.corpus import CorpusView
from .views.events import clickable_checkbox_labels, frozen, held
from .views.onscreen import OnScreen
from .views.relations import RelationsView

SIDEBAR_WIDTH = 470
INSTANCE_TAB, CORPUS_TAB = 0, 1
SERIES_HEIGHT = 340  # the series figure with its toolbar
HEADER_STYLE = """
.av-header { background: #1f4e79; color: white; font: 600 22px system-ui, sans-serif;
             padding: 10px 18px; }
.av-header span { font-weight: 400; font-size: 15px; opacity: 0.8; margin-left: 10px; }
"""
ENV_STORE = "ATTVIZ_STORE"
ENV_ROOT = "ATTVIZ_STORE_ROOT"
ENV_MODEL_ROOT = "ATTVIZ_MODEL_ROOT"
STORE_CHECK_MS = 5000


class PageSession(Protocol):
    """Who the page is for, as the server that serves it knows (the lab server's sign-in:
    :class:`attviz.lab.session.SignedInPage`): the stores the session may open and the
    header's user."""

    stylesheet: str

    def scope(self, root: str | None) -> Scope | None:
        """The stores this session may open (None: every store of the root)."""

    def header_html(self) -> str:
        """HTML for the right of the page header ("" for nobody)."""


class Anonymous:
    """A page without sign-in (``attviz.explorer`` in a notebook): every store of the root."""

    stylesheet = ""

    def scope(self, root: str | None) -> Scope | None:  # noqa: ARG002
        return None

    def header_html(self) -> str:
        return ""


def server_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options after ``panel serve apps/ --args``; the environment fills what is not given."""
    p = argparse.ArgumentParser(prog="panel serve apps/ --args", add_help=False)
    p.add_argument("--store", default=os.environ.get(ENV_STORE) or None)
    p.add_argument("--root", default=os.environ.get(ENV_ROOT) or None)
    # where the stores' models are when they moved (the relations view)
    p.add_argument("--model-root", default=os.environ.get(ENV_MODEL_ROOT) or None)
    args, _ = p.parse_known_args(argv if argv is not None else sys.argv[1:])
    return args


def _title_html(ex: Explorer) -> str:
    inst = ex.current()
    if inst is None and ex.instance >= 0 and ex.instance_error:
        return (f'<div class="av-instance" style="font-size:15px"><b>instance {ex.instance:,}'
                "</b> · cannot be read</div>")
    if inst is None:
        return "<h3>No instance selected</h3>"
    names = ex.label_names
    gold = names[inst.label] if inst.label >= 0 else "unknown"
    verdict = "" if inst.label < 0 else (" ✓" if inst.label == inst.prediction else " ✗")
    return (f'<div class="av-instance" style="font-size:15px">'
            f"<b>instance {inst.index:,}</b> · document "
            f"<code>{html.escape(inst.document_id)}</code>"
            f" · segment {inst.segment} · {inst.n_tokens} tokens · gold "
            f"<b>{html.escape(gold)}</b> · predicted <b>{html.escape(names[inst.prediction])}</b>"
            f"{verdict}</div>")


def _message(text: param.Parameter, css_class: str) -> pn.pane.HTML:
    """A message box showing the string parameter ``text``, hidden while it is empty."""
    return pn.pane.HTML(
        pn.bind(lambda e: f'<div class="{css_class}">{html.escape(e)}</div>', text),
        visible=pn.bind(bool, text), sizing_mode="stretch_width",
        stylesheets=[f".{css_class} {{ background: #f8d7da; color: #842029; border: 1px solid "
                     "#f5c2c7; border-radius: 6px; padding: 12px 16px; font-size: 15px; }"])


def _watch_store(ex: Explorer) -> None:
    """In a served session: notice every few seconds when the open store was deleted."""
    doc = pn.state.curdoc
    if doc is not None and getattr(doc, "session_context", None) is not None:
        pn.state.add_periodic_callback(ex.check_store, period=STORE_CHECK_MS)


_started = False


def _once_per_process() -> None:
    """Set-up that every session shares, done when the first page is built."""
    global _started
    if _started:
        return
    _started = True
    # ~30 ms: not repeated for every page. HoloViews' base extension loads the backend only;
    # ``hv.extension`` in a Jupyter kernel would also publish Bokeh's resources from a CDN
    # into the notebook (see notebook.py).
    hv_extension("bokeh")
    bokehdefaults.install()  # Bokeh's property defaults computed once (~20% of a page)
    # Canvas, not WebGL: a few thousand glyphs at most, and WebGL only adds start-up cost
    # (emulated in software where there is no GPU: 0.4 s of a page load).
    hv.renderer("bokeh").webgl = False
    # Move what exists now (modules and what they hold) out of the garbage collector's
    # sight: a full collection then scans only session objects (0.15-0.2 s saved every few
    # page loads).
    gc.collect()
    gc.freeze()
    if not notebook.in_kernel():
        # A server holds many sessions' objects: a full collection took ~0.3 s, 18 of them
        # in a minute of twenty sessions. Collecting young objects every 10,000 allocations
        # instead of 700 made that 8 (server CPU -6%, memory the same; docs/benchmarks.md).
        gc.set_threshold(10_000, 10, 10)
        # Bokeh checks every new session's document (a walk over all its models: ~40 ms of
        # each page open) and only logs what it finds; tests/app/test_views.py checks the page
        # once instead.
        bokeh_settings.perform_document_validation.set_value(False)


class LazyCorpus:
    """The Corpus tab's content: an empty box until the tab is first shown, then the corpus
    view. A session that never opens the tab does not pay for the view's widgets (~40 ms of
    the server's CPU at every page open)."""

    def __init__(self, ex: Explorer) -> None:
        self.ex = ex
        self.view: CorpusView | None = None
        self.box = pn.Column(sizing_mode="stretch_width", margin=0)

    def show(self) -> None:
        if self.view is None:
            self.view = CorpusView(explorer=self.ex)
            self.box.objects = [self.view]
        self.view.show()

    def hide(self) -> None:
        if self.view is not None:
            self.view.hide()


def relations_tabs(tabs: pn.Tabs, ex: Explorer) -> pn.Tabs:
    """``tabs`` with the relations view as its last tab; opening it asks for the relations.

    The view is made when the tab is first opened (a page that never opens it does not pay
    for it), after relations are on, so that its widgets are built with that value rather
    than changed while the browser builds them."""
    box = pn.Column(sizing_mode="stretch_width", min_height=200)
    tabs.append(("Relations", box))
    index = len(tabs) - 1

    def opened(event) -> None:
        if event.new == index:
            ex.relations.enabled = True
            if not box.objects:
                box.objects = [RelationsView(explorer=ex)]

    tabs.param.watch(opened, "active")
    return tabs


def instance_tab(ex: Explorer) -> pn.Column:
    """The Instance tab: stepping through the table, the title, the probabilities, the text
    and the tabs of plots of the selected instance."""
    # fixed heights: content that changes with the instance never reflows the page
    title = pn.pane.HTML(pn.bind(lambda *_: _title_html(ex), ex.param.instance, ex.param.error),
                         sizing_mode="stretch_width", height=48)
    prev = pn.widgets.Button(name="‹ previous", width=100)
    nxt = pn.widgets.Button(name="next ›", width=100)
    prev.on_click(lambda e: held(ex.step, -1))
    nxt.on_click(lambda e: held(ex.step, 1))
    csv = pn.widgets.FileDownload(callback=lambda: instance_csv(ex.current(), ex.layer,
                                                                ex.words),
                                  filename="instance.csv", label="this instance (CSV)",
                                  button_type="light", width=180)
    heatmap = HeatmapView(explorer=ex)
    # below the heatmap, so off screen at load in most windows: made when scrolled to
    series = OnScreen(lambda: SeriesView(explorer=ex), label="series view",
                      height=SERIES_HEIGHT)
    # the layers x heads view and the instance ablation are made when their tab is first
    # opened (a page that never opens it does not pay for them)
    layers = pn.Column(sizing_mode="stretch_width", min_height=200)
    tabs = pn.Tabs(("Heads x tokens", pn.Column(heatmap, series, sizing_mode="stretch_width")),
                   ("Layers x heads", layers), dynamic=True, sizing_mode="stretch_width")

    def opened(event) -> None:
        if event.new == 1 and not layers.objects:
            layers.objects = [OverviewView(explorer=ex), InstanceAblationView(explorer=ex)]

    tabs.param.watch(opened, "active")
    return pn.Column(
        pn.Row(prev, nxt, title, csv, sizing_mode="stretch_width"),
        ProbabilitiesView(explorer=ex),
        SequenceView(explorer=ex),
        relations_tabs(tabs, ex),
        sizing_mode="stretch_width",
    )


def build_app(argv: list[str] | None = None, explorer: Explorer | None = None,
              session: PageSession | None = None):
    """The page for one browser session (a plain layout: lighter than Panel's templates).

    ``session``: who the page is for (default: nobody signed in, every store of the root).
    In a Jupyter kernel the page is a notebook output (:mod:`attviz.explore.notebook`).
    """
    session = session or Anonymous()
    _once_per_process()
    if notebook.in_kernel():
        notebook.load()  # once per kernel, inlined: pn.extension would publish it again
    else:
        pn.extension(notifications=False)
    if explorer is None:
        args = server_args(argv)
        # scope: the stores of a signed-in user's groups when the server has an access file
        explorer = Explorer(root=args.root, store=args.store, scope=session.scope(args.root))
        explorer.relations.model_root = args.model_root
    ex = explorer
    sync_address(ex)
    clickable_checkbox_labels()
    error = _message(ex.param.error, "av-error")
    instance_error = _message(ex.param.instance_error, "av-unreadable")
    _watch_store(ex)
    release_after_close()
    table = InstanceTable(explorer=ex)
    corpus = LazyCorpus(ex)
    header = pn.pane.HTML(
        '<div class="av-header">attviz <span>self-attention explorer</span>'
        f"{session.header_html()}</div>",
        stylesheets=[HEADER_STYLE, session.stylesheet], sizing_mode="stretch_width", margin=0)
    side = pn.Column(*sidebar(ex, table), width=SIDEBAR_WIDTH, scroll=True,
                     styles={"border-right": "1px solid #ddd", "background": "#fafafa"},
                     css_classes=["av-sidebar"], sizing_mode="stretch_height")
    instance = instance_tab(ex)
    # the corpus view is made when its tab is first shown and computes only while its tab is
    # open; both tabs stay in the page (re-rendering a hidden tab on return costs more)
    views = pn.Tabs(("Instance", instance), ("Corpus", corpus.box),
                    visible=pn.bind(lambda e: not e, ex.param.error),
                    sizing_mode="stretch_width", css_classes=["av-main-tabs"])

    def on_tab(event) -> None:
        if event.new == CORPUS_TAB:
            with frozen():  # its figures are redrawn together: the page walked once
                held(corpus.show)
        else:
            corpus.hide()

    views.param.watch(on_tab, "active")
    table.on_pick = lambda: setattr(views, "active", INSTANCE_TAB)
    main = pn.Column(error, instance_error, views, sizing_mode="stretch_both", scroll=True,
                     margin=(0, 10))
    body = pn.Row(side, main, sizing_mode="stretch_both")
    if notebook.in_kernel():
        return notebook.NotebookExplorer(header, body, sizing_mode="stretch_width",
                                         height=notebook.NOTEBOOK_HEIGHT, margin=0)
    return pn.Column(header, body, sizing_mode="stretch_both", margin=0)
