"""Memory given back when sessions close.

A served page's models, figures and caches are freed when Bokeh destroys its session, but
the process keeps the memory: glibc holds freed heap pages, and Python's small-object
arenas stay while any object in them lives, e.g. a cached instance's token strings
allocated between two sessions' objects. A few seconds after the last of a group of
sessions was destroyed (sessions that close together share one release): when no session
is left, the shared stores' caches are forgotten (instances, text searches, corpus
results: the next visitor computes them again); then one full garbage collection, and
``malloc_trim`` returns the freed heap to the operating system.
"""

from __future__ import annotations

import gc

import panel as pn

from ..relations.service import release_memory
from .stores import registry

DELAY_S = 5.0
_live = 0  # sessions of this process not destroyed yet
_scheduled = False


def release_after_close() -> None:
    """In a served session: count it, and when it is destroyed schedule a release (one
    pending at most)."""
    global _live
    doc = pn.state.curdoc
    if doc is None or getattr(doc, "session_context", None) is None:
        return
    _live += 1
    pn.state.on_session_destroyed(_destroyed)


def _destroyed(session_context) -> None:
    global _live, _scheduled
    _live = max(0, _live - 1)
    if _scheduled:
        return
    from tornado.ioloop import IOLoop

    _scheduled = True
    IOLoop.current().call_later(DELAY_S, release)


def release() -> None:
    """Free what closed sessions left (reference cycles included), with the shared caches
    when no session is left, and give the freed heap back to the operating system."""
    global _scheduled
    _scheduled = False
    if _live == 0:
        registry().drop_caches()
    gc.collect()
    release_memory()
