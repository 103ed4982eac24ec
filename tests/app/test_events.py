"""views/events.py: when a view's changes are held for Panel to send, and when not."""

from __future__ import annotations

import weakref

import panel as pn
import pytest
from bokeh.document import Document

from attviz.explore.views.events import held, in_order


class _Context:
    """Stands for a server session's context (only its presence matters here)."""


@pytest.fixture
def session_doc():
    context = _Context()
    doc = Document()
    doc._session_context = weakref.ref(context)
    before = pn.state.curdoc
    pn.state.curdoc = doc
    try:
        yield doc
    finally:
        pn.state.curdoc = before
        pn.state._connected.pop(doc, None)
        assert context is not None  # kept alive while the test runs


def test_changes_are_held_only_once_the_page_is_ready(session_doc):
    """Before the page reports its first render, Panel drops what a hold collected (it
    means to send the whole document, which the page has already): run unheld then."""
    holds = []
    held(lambda: holds.append(session_doc.callbacks.hold_value))
    pn.state._connected[session_doc] = True
    held(lambda: holds.append(session_doc.callbacks.hold_value))
    assert holds == [None, "combine"]


def test_in_order_runs_a_watcher_held_and_keeps_its_name(session_doc):
    pn.state._connected[session_doc] = True
    calls = []

    def redraw(*events):
        calls.append((events, session_doc.callbacks.hold_value))

    run = in_order(redraw)
    run("e1", "e2")
    assert calls == [(("e1", "e2"), "combine")] and run.__name__ == "redraw"


def test_without_a_session_a_watcher_runs_at_once():
    before = pn.state.curdoc
    pn.state.curdoc = None
    try:
        calls = []
        in_order(lambda *e: calls.append(e))("x")
        assert calls == [("x",)]
    finally:
        pn.state.curdoc = before
