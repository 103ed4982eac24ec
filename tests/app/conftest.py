"""Fixtures of the app tier: a session on the tiny store, a synthetic store of 3,000."""

from __future__ import annotations

import pytest

from attviz.explore.state import Explorer


@pytest.fixture(scope="module")
def synth_store(make_synth):
    return make_synth(3000, layers=3, heads=4, classes=4, max_tokens=48, part_size=700)


@pytest.fixture
def ex(tiny_store):
    return Explorer(store=tiny_store)
