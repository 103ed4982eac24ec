"""Symbolic links in the store root of a running server, over Bokeh's protocol: `attviz
serve` with groups (a member of one group links another group's stores into their folder)
and plain `panel serve apps/` with a root (links out of it)."""

from __future__ import annotations

import asyncio
import html
import re
import shutil

import pytest

from tests.helpers.lab import LINKED_STORES, USERS, LabServer, make_lab, make_links, signed_in
from tests.helpers.served import Server
from tests.helpers.wsclient import Session, picker


@pytest.fixture(scope="module")
def linked(tmp_path_factory, tiny_store):
    folder = tmp_path_factory.mktemp("linked")
    root, users, access = make_lab(folder, tiny_store)
    outside = folder / "elsewhere" / "secret.h5"
    outside.parent.mkdir()
    shutil.copy(tiny_store, outside)
    make_links(root, outside)
    (root / "out-shards").mkdir()
    (root / "out-shards" / "shard-00000-of-00001.h5").symlink_to(outside)
    return root, users, access


def shown(base: str, cookie: str, store: str | None) -> tuple[list[str], str]:
    """(the picker's stores, the error shown) of a session opened at ``?store=``."""
    async def run():
        s = Session(base, cookie=cookie, query=f"?store={store}" if store else "")
        await s.open()
        error = re.sub("<[^>]+>", "", html.unescape(s.text_with("av-error") or ""))
        found = [v for v, _ in s.attr(picker(s), "options")], error
        await s.close()
        return found

    return asyncio.run(run())


def test_links_to_another_group_are_neither_listed_nor_opened_by_attviz_serve(linked):
    server = LabServer(*linked)
    try:
        cookie = signed_in(server, "alice", USERS["alice"][1])
        options, _ = shown(server.base, cookie, None)
        assert options == ["bbc/alias.h5", "bbc/news.h5", "shared/common.h5"]
        for name, allowed in LINKED_STORES.items():
            _, error = shown(server.base, cookie, name)
            if allowed:
                assert error == "", name
            else:
                assert error.startswith(f"{name}: not inside the store folder"), (name, error)
                assert f"refused store {name!r} to user 'alice'" in server.output()
    finally:
        server.stop()


def test_links_out_of_the_root_are_neither_listed_nor_opened_by_panel_serve(linked):
    root = linked[0]
    server = Server("--root", str(root))
    base = server.url.rsplit("/apps", 1)[0]
    try:
        options, _ = shown(base, "", None)
        assert "bbc/outside.h5" not in options and "out-shards" not in options
        assert "bbc/shards" in options  # links between folders of the root are fine
        for name in ("bbc/outside.h5", "out-shards"):
            _, error = shown(base, "", name)
            assert error == f"{name}: not inside the store folder {root.resolve()}; refused"
    finally:
        server.stop()
