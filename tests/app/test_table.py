"""The instance table: one page of rows, as text, from the store; the selection follows the
instance; a click picks an instance."""

from __future__ import annotations

import json

import h5py
import numpy as np

from attviz.explore.state import Explorer
from attviz.explore.views import InstanceTable
from attviz.explore.views.rowtable import cell_text


def shown(table: InstanceTable) -> dict:
    return json.loads(table.table.payload)


def test_the_table_shows_the_pages_rows_from_the_store(tiny_store):
    ex = Explorer(store=tiny_store)
    ex.sort_by = "confidence"
    table = InstanceTable(explorer=ex)
    data = shown(table)
    assert [c["title"] for c in data["columns"]] == ["id", "document", "seg", "gold", "pred",
                                                     "conf", "ok", "tok"]
    ids = ex.page_indices()
    assert len(data["rows"]) == len(ids) == ex.page_size
    with h5py.File(tiny_store, "r") as f:
        probs = f["instances/probabilities"][:]
        count = np.diff(f["instances/token_start"][:])
    conf = probs[np.arange(len(probs)), probs.argmax(1)]
    for row, k in zip(data["rows"], ids):
        assert row[0] == f"{k:,}"
        assert row[5] == f"{conf[k]:.3f}"
        assert row[7] == str(count[k])
    # sorted by confidence, smallest first (the explorer's order)
    assert [float(r[5]) for r in data["rows"]] == sorted(float(r[5]) for r in data["rows"])


def test_the_selection_follows_the_instance_without_resending_the_rows(tiny_store):
    ex = Explorer(store=tiny_store)
    table = InstanceTable(explorer=ex)
    ids = ex.page_indices()
    rows = table.table.payload
    ex.instance = int(ids[3])
    assert table.table.selected == 3
    assert table.table.payload is rows  # the same string: nothing sent but the selection
    ex.step(1)
    assert table.table.selected == 4
    ex.page = 2  # another page: its rows; the instance is not on it
    assert shown(table)["rows"][0][0] == f"{ex.page_indices()[0]:,}"
    assert table.table.selected == -1


def test_a_click_on_a_row_picks_its_instance(tiny_store):
    ex = Explorer(store=tiny_store)
    picked = []
    table = InstanceTable(explorer=ex, on_pick=lambda: picked.append(ex.instance))
    ids = ex.page_indices()
    for row in (5, 2, 5):  # the browser sets -1 before each row: each click is a change
        table.table.picked = -1
        table.table.picked = row
        assert ex.instance == int(ids[row])
        assert table.table.selected == row
    assert picked == [int(ids[5]), int(ids[2]), int(ids[5])]


def test_cells_are_text_with_thousands_and_three_decimals():
    assert cell_text(np.int64(12345), None) == "12,345"
    assert cell_text(0.98765, "0.000") == "0.988"
    assert cell_text("<b>x</b>", None) == "<b>x</b>"  # text: the browser sets textContent
    assert cell_text(True, None) == "True"
