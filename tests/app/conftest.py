"""Fixtures of the app tier: a session on the tiny store, a synthetic store of 3,000."""

from __future__ import annotations

import pytest

from attviz.explore.state import Explorer
from attviz.store.synth import synthesize


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("explorer") / "synth.h5"
    synthesize(path, 3000, layers=3, heads=4, classes=4, max_tokens=48, part_size=700,
               progress=False)
    return path


@pytest.fixture
def ex(tiny_store):
    return Explorer(store=tiny_store)
