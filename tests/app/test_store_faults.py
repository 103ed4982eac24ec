"""Stores that change or break while sessions use them, through the sessions' state (no
browser): a store replaced by a new precompute, a store deleted, a damaged chunk.

Expected values come from the store files with h5py.
"""

from __future__ import annotations

import logging
import os
import shutil

import h5py
import numpy as np
import pytest

from attviz.explore.state import Explorer
from tests.helpers.raw import damaged_and_next
from tests.helpers.stores import synth_store


def n_instances(path) -> int:
    with h5py.File(path, "r") as f:
        return len(f["/instances/label"])


def tokens_of(path, k: int) -> np.ndarray:
    with h5py.File(path, "r") as f:
        start = f["/instances/token_start"][:]
        return f["/tokens/id"][start[k]:start[k + 1]]


@pytest.fixture
def two_versions(tmp_path):
    """An old and a new precompute of a store (different sizes and values), and a root
    holding the old one and another store."""
    old, new = tmp_path / "old.h5", tmp_path / "new.h5"
    synth_store(old, 400, layers=2, heads=3, classes=3, max_tokens=24, seed=1)
    synth_store(new, 650, layers=2, heads=3, classes=3, max_tokens=24, seed=2)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(old, root / "corpus.h5")
    shutil.copy(old, root / "other.h5")
    return root, old, new


def test_a_store_replaced_while_open_keeps_old_sessions_and_gives_new_ones_the_new(two_versions):
    root, old, new = two_versions
    before = Explorer(root=root, store=root / "corpus.h5")
    before.instance = 7
    assert before.total == n_instances(old)
    # a new precompute renamed over the file, as `attviz precompute` finishes
    shutil.copy(new, root / ".corpus.h5.tmp")
    os.replace(root / ".corpus.h5.tmp", root / "corpus.h5")
    after = Explorer(root=root, store=root / "corpus.h5")
    assert after.total == n_instances(new) and after.opened is not before.opened
    assert np.array_equal(after.current().token_ids, tokens_of(new, 0))
    # the open session still reads what it opened, every instance of it
    assert before.total == n_instances(old) and before.error == ""
    for k in (7, 8, n_instances(old) - 1):
        before.instance = k
        assert np.array_equal(before.current().token_ids, tokens_of(old, k))
    before.filters.misclassified_only = True  # its filters still work on its columns
    assert before.count < before.total == n_instances(old)
    # a session that opens it again gets the new one
    before.request_store("other.h5")
    before.request_store("corpus.h5")
    assert before.opened is after.opened and before.total == n_instances(new)


def test_a_store_deleted_while_open_gives_its_sessions_one_message(two_versions):
    root, old, _ = two_versions
    showing = Explorer(root=root, store=root / "corpus.h5")
    elsewhere = Explorer(root=root, store=root / "other.h5")
    (root / "corpus.h5").unlink()
    showing.check_store()  # what the session's periodic check and every instance switch do
    assert showing.opened is None and showing.instance == -1
    assert showing.error == ("corpus.h5: the store was removed from the server; choose "
                             "another one")
    assert showing.param.store_name.objects == ["other.h5"]
    elsewhere.check_store()
    elsewhere.instance = 3
    assert elsewhere.error == "" and np.array_equal(elsewhere.current().token_ids,
                                                    tokens_of(root / "other.h5", 3))
    showing.store_name = "other.h5"  # the session goes on with another store
    assert showing.error == "" and showing.total == n_instances(old)
    fresh = Explorer(root=root)
    assert fresh.param.store_name.objects == ["other.h5"]
    assert not fresh.request_store("corpus.h5") and "no such store" in fresh.error


def test_a_damaged_chunk_shows_one_message_for_its_instance_and_the_next_works(tmp_path, caplog):
    path = tmp_path / "damaged.h5"
    synth_store(path, 4000, layers=2, heads=3, classes=3, max_tokens=48)
    inside, after = damaged_and_next(path)
    ex = Explorer(store=path)
    with caplog.at_level(logging.ERROR, logger="attviz.explore"):
        ex.instance = inside
        assert ex.current() is None and ex.view_data() is None
        assert ex.current() is None  # asked again by every view: still one message
    message = ex.instance_error
    assert message.startswith(f"Instance {inside:,} cannot be shown: ")
    assert str(path) in ex.instance_error and "/tokens/id" in ex.instance_error
    assert "\n" not in ex.instance_error and ex.error == ""
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and str(path) in logged[0] and "/tokens/id" in logged[0]
    ex.instance = after
    assert ex.instance_error == ""
    assert np.array_equal(ex.current().token_ids, tokens_of(path, after))
    other = Explorer(store=path)  # another session: the same message, not read or logged again
    other.instance = inside
    assert other.current() is None and other.instance_error == message
    assert len(caplog.records) == 1
