"""What a closed session leaves behind: nothing of its own. The app served in this process
and driven at Bokeh's protocol level through the Corpus tab (its figures, the AUROC grid built on
demand); after the session closed, a weak
reference to each kind of object it made is dead (its document at most an emptied shell)."""

from __future__ import annotations

import asyncio
import gc
import weakref

from tests.helpers.served import served_here
from tests.helpers.waiting import until_async
from tests.helpers.wsclient import Session, server_up


def corpus_views_of(explorer) -> list:
    from attviz.explore.views.corpus import CorpusView

    return [o for o in gc.get_objects()
            if isinstance(o, CorpusView) and o.explorer is explorer]


async def corpus_with_contrast(s: Session) -> None:
    """Open the page, its Corpus tab, and contrast misclassified against correct."""
    await s.open()
    await s.wait_for(lambda: s.text_with("av-instance") is not None)
    tabs, index = next(
        (t, i) for t in s.find("panel.models.tabs.Tabs", "tabs")
        for i, ref in enumerate(s.attr(t, "tabs"))
        if s.models.get(ref["id"], {}).get("attributes", {}).get("title") == "Corpus")
    await s.set(tabs, "active", index)
    await s.wait_for(lambda: s.text_with("By token position") is not None)
    contrast = next(m for m in s.find(None, "options")
                    if "misclassified against correct" in str(s.attr(m, "options")))
    await s.set(contrast, "value", "misclassified against correct")
    await s.wait_for(lambda: s.text_with("AUROC, A against B") is not None)


def test_a_closed_session_leaves_none_of_its_objects(tiny_store):
    import panel as pn

    from attviz.explore.app import build_app
    from attviz.explore.corpus_state import CONTRASTS
    from attviz.explore.state import Explorer

    made: list[dict] = []  # per session: kind -> weak reference

    def app():
        ex = Explorer(store=tiny_store)
        page = build_app(explorer=ex)
        made.append({"explorer": weakref.ref(ex), "document": weakref.ref(pn.state.curdoc)})
        return page

    def alive_of(refs: dict) -> list[str]:
        gc.collect()
        return [kind for kind, ref in refs.items() if ref() is not None]

    def alive() -> list[str]:
        return [kind for refs in made for kind in alive_of(refs)]

    async def run(base: str):
        await server_up(base)
        # the first page of a process sets up what every session shares (and moves it out
        # of the garbage collector's sight, with that session): watch the ones after it
        del made[:]
        s = Session(base)
        await corpus_with_contrast(s)
        (view,) = corpus_views_of(made[0]["explorer"]())  # made when its tab was shown
        made[0]["corpus view"] = weakref.ref(view)
        assert view.settings.contrast == CONTRASTS["misclassified against correct"]
        made[0]["position figure"] = weakref.ref(view.positions.object)
        made[0]["AUROC pane"] = weakref.ref(view.auroc)
        del view
        assert alive() == list(made[0])  # all of it while the session is open
        await s.close()
        # A server thread's context (Panel's current document is a context variable) may
        # still point at the session's document: then it must be destroyed (Bokeh removes
        # its roots and models), an empty shell. Everything else goes.
        first = made[0]
        await until_async(lambda: [k for k in alive_of(first) if k != "document"] == [],
                          "the session's objects are freed", timeout=30,
                          on_fail=lambda: alive_of(first))
        doc = first["document"]()
        assert doc is None or not hasattr(doc, "_roots")

    with served_here(app) as base:
        asyncio.run(run(base))
