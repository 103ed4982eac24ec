"""Memory given back when sessions close (attviz.explore.release): the shared caches are
forgotten only when no session is left, and the release runs once for sessions that close
together."""

from __future__ import annotations

import asyncio

import pytest

from attviz.explore import release as R
from attviz.explore.state import Explorer
from attviz.explore.stores import registry


def filled(ex: Explorer):
    """Fill the shared store's caches: an instance, a text search and a corpus result."""
    shared = ex.opened
    shared.instance(1)
    shared.search_text("the", False)
    shared.slices.grid("self_mean", ex.mask, None)
    return shared


def sizes(shared) -> tuple[int, int, int]:
    return len(shared._instances), len(shared._text_cache), len(shared.slices._results)


def test_caches_are_kept_while_a_session_lives_and_forgotten_after_the_last(
        tiny_store, monkeypatch):
    ex = Explorer(store=tiny_store)
    shared = filled(ex)
    assert all(sizes(shared))
    monkeypatch.setattr(R, "_live", 1)
    R.release()
    assert all(sizes(shared))  # a session still uses them
    monkeypatch.setattr(R, "_live", 0)
    R.release()
    assert sizes(shared) == (0, 0, 0)
    groups = shared.slices.groups  # kept: any corpus view needs them first
    assert shared.slices._groups is groups
    assert registry().open(tiny_store) is shared
    # the next request computes again what was dropped
    assert shared.instance(1).index == 1 and len(shared._instances) == 1


def test_sessions_closing_together_share_one_release(monkeypatch):
    calls = []
    monkeypatch.setattr(R, "release", lambda: calls.append(R._live))
    monkeypatch.setattr(R, "DELAY_S", 0.05)
    monkeypatch.setattr(R, "_live", 3)
    monkeypatch.setattr(R, "_scheduled", False)

    async def run():
        for _ in range(3):
            R._destroyed(None)
        assert R._live == 0 and R._scheduled
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.01)

    asyncio.run(run())
    assert calls == [0]


@pytest.fixture(autouse=True)
def no_release_left_scheduled():
    yield
    R._scheduled = False
