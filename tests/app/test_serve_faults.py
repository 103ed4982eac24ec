"""Stores that change or break under a running lab server, seen over Bokeh's protocol: a
store deleted while sessions show it, a damaged chunk in the middle of a store."""

from __future__ import annotations

import asyncio
import shutil

from tests.helpers.lab import USERS
from tests.helpers.raw import damaged_and_next
from tests.helpers.stores import synth_store
from tests.helpers.wsclient import Session, picker, sign_in


def test_a_store_deleted_while_shown_gets_its_sessions_one_message(lab, lab_files):
    root = lab_files[0]
    shutil.copy(root / "bbc" / "news.h5", root / "bbc" / "doomed.h5")

    async def run():
        cookie = await sign_in(lab.base, "alice", USERS["alice"][1])
        shown = Session(lab.base, cookie=cookie, query="?store=bbc/doomed.h5")
        await shown.open()
        other = Session(lab.base, cookie=cookie, query="?store=bbc/news.h5")
        await other.open()
        assert not shown.text_with("av-error").endswith("refused&lt;/div&gt;")
        (root / "bbc" / "doomed.h5").unlink()
        # no action needed: the session's periodic check tells it
        await shown.wait_for(lambda: "removed" in (shown.text_with("av-error") or ""), 30)
        message = shown.text_with("av-error")
        options = [v for v, _ in shown.attr(picker(shown), "options")]
        before = other.text_with("av-instance")
        await other.click(next(m for m in other.find(None, "label")
                               if other.attr(m, "label") == "next ›"))
        await other.wait_for(lambda: other.text_with("av-instance") != before)
        for s in (shown, other):
            await s.close()
        return message, options

    message, options = asyncio.run(run())
    assert "bbc/doomed.h5: the store was removed from the server" in message
    assert "bbc/doomed.h5" not in options and "bbc/news.h5" in options


def test_a_damaged_chunk_shows_one_message_and_the_next_instance_works(lab, lab_files, tmp_path):
    path = lab_files[0] / "shared" / "damaged.h5"
    synth_store(tmp_path / "d.h5", 4000, layers=2, heads=3, classes=3, max_tokens=48)
    shutil.copy(tmp_path / "d.h5", path)
    inside, after = damaged_and_next(path)

    async def run():
        cookie = await sign_in(lab.base, "alice", USERS["alice"][1])
        s = Session(lab.base, cookie=cookie, query=f"?store=shared/damaged.h5&instance={inside}")
        await s.open()
        await s.wait_for(lambda: "cannot be shown" in (s.text_with("av-unreadable") or ""))
        shown = s.text_with("av-unreadable") + s.text_with("av-instance")
        nxt = next(m for m in s.find(None, "label") if s.attr(m, "label") == "next ›")
        await s.click(nxt)
        await s.wait_for(lambda: f"instance {after:,}&lt;/b&gt; · document"
                         in (s.text_with("av-instance") or ""))
        title = s.text_with("av-instance")
        cleared = s.text_with("av-unreadable")
        await s.close()
        return shown, title, cleared

    shown, title, cleared = asyncio.run(run())
    assert f"Instance {inside:,} cannot be shown" in shown and "/tokens/id" in shown
    assert f"instance {inside:,}&lt;/b&gt; · cannot be read" in shown
    assert f"instance {after:,}&lt;/b&gt;" in title
    assert "cannot be shown" not in cleared
    log = lab.output()
    assert f"instance {inside}: {path}: cannot read /tokens/id" in log
