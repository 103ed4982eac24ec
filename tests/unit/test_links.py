"""Symbolic links in a store root: every file a store opens (a file, each shard of a folder,
anything reached through a link) must lie inside the folders the session may open (inside
the root without sign-in), else the store is refused like a path outside and not listed."""

from __future__ import annotations

import logging
import shutil

import pytest

from attviz.explore.catalog import StoreCatalog
from attviz.explore.state import Explorer
from attviz.lab.access import Access
from tests.helpers.lab import ACCESS, LINKED_STORES, STORES, make_links


@pytest.fixture
def linked_root(tmp_path, tiny_store):
    root = tmp_path / "stores"
    for rel in STORES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_store, root / rel)
    outside = tmp_path / "elsewhere" / "secret.h5"
    outside.parent.mkdir()
    shutil.copy(tiny_store, outside)
    make_links(root, outside)
    (tmp_path / "access.toml").write_text(ACCESS)
    return root


def test_links_to_other_groups_are_neither_listed_nor_opened(linked_root, caplog):
    scope = Access.load(linked_root.parent / "access.toml", linked_root).scope("alice", ["nlp"])
    assert StoreCatalog(linked_root, scope).names() == ["bbc/alias.h5", "bbc/news.h5",
                                                        "shared/common.h5"]
    ex = Explorer(root=linked_root, scope=scope)
    assert not ex.request_store("tweets/tweets.h5")
    refused = ex.error
    for name, allowed in LINKED_STORES.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="attviz.explore"):
            opened = ex.request_store(name)
        assert opened == allowed, name
        if not allowed:
            assert ex.error == refused.replace("tweets/tweets.h5", name, 1), name
            assert f"refused store {name!r} to user 'alice'" in caplog.text, name
    assert ex.request_store("shared/common.h5") and ex.error == ""


def test_without_sign_in_links_out_of_the_root_are_refused(linked_root):
    catalog = StoreCatalog(linked_root)
    names = catalog.names()
    assert "bbc/outside.h5" not in names
    # inside the root, links between folders are fine without groups
    assert {"bbc/alias.h5", "bbc/other-group.h5", "bbc/shards"} <= set(names)
    ex = Explorer(root=linked_root)
    assert ex.request_store("bbc/shards") and ex.request_store("bbc/only-link")
    outside = linked_root.parent / "elsewhere"
    (linked_root / "out-shards").mkdir()
    (linked_root / "out-shards" / "shard-00000-of-00001.h5").symlink_to(outside / "secret.h5")
    (linked_root / "out-folder").symlink_to(outside)
    assert "out-shards" not in catalog.names()
    for name in ("bbc/outside.h5", "out-shards", "out-folder", "out-folder/secret.h5"):
        assert not ex.request_store(name), name
        assert ex.error == f"{name}: not inside the store folder {linked_root.resolve()}; refused"
