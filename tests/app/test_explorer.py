"""The explorer's state, driven by setting parameters (no browser).

Expected values are computed independently from the store file with h5py and numpy.
"""

import os
import shutil

import h5py
import numpy as np
import pytest

from attviz.analysis.aggregate import aggregate
from attviz.explore.catalog import OutsideRoot, list_stores, resolve_inside
from attviz.explore.rows import TABLE_COLUMNS, table_csv, table_frame
from attviz.explore.state import Explorer
from attviz.explore.stores import registry
from attviz.explore.viewdata import (
    ViewSettings,
    instance_csv,
    layer_head_means,
    view_data,
)
from tests.helpers.raw import instance_columns as raw


def test_opens_with_everything_and_the_first_instance(ex, tiny_store):
    r = raw(tiny_store)
    assert ex.error == ""
    assert ex.count == ex.total == len(r["label"])
    assert ex.instance == 0
    assert ex.filters.param.gold.objects == list(range(len(r["names"])))
    assert list(ex.filters.param.gold.names) == r["names"]  # the labels the page shows
    assert ex.heads == list(range(4)) and ex.layer == 1  # the last layer first
    assert ex.filters.tokens == (0, int(r["tokens"].max()))


def test_table_pages_sorting_and_selection(synth_store):
    ex = Explorer(store=synth_store)
    r = raw(synth_store)
    ex.page_size = 25
    ex.sort_by = "confidence"
    ex.descending = True
    want = np.argsort(-r["confidence"].astype(np.float64), kind="stable")
    np.testing.assert_array_equal(ex.filtered, want)
    # the table shows the page of the selected instance
    assert ex.page == int(np.flatnonzero(want == ex.instance)[0]) // 25 + 1
    ex.page = 1
    frame = table_frame(ex.opened, ex.page_indices())
    assert len(frame) == 25 and frame["id"].tolist() == want[:25].tolist()
    assert (np.diff(frame["confidence"]) <= 0).all()
    ex.page = ex.pages
    last = table_frame(ex.opened, ex.page_indices())
    assert last["id"].tolist() == want[(ex.pages - 1) * 25 :].tolist()
    assert ex.pages == -(-3000 // 25)
    ex.select_row(3)
    assert ex.instance == want[(ex.pages - 1) * 25 + 3]
    ex.step(1)
    assert ex.instance == want[(ex.pages - 1) * 25 + 4]
    docs = ex.opened.store.document_ids(np.unique(ex.opened.cols.document[last["id"]]))
    assert set(last["document"]) == set(docs)
    names = r["names"] + ["?"]
    assert last["gold"].tolist() == [names[g] for g in r["label"][last["id"]]]


def test_filtered_csv_has_every_row_in_table_order(synth_store):
    ex = Explorer(store=synth_store)
    ex.sort_by = "tokens"
    ex.filters.misclassified_only = True
    csv = table_csv(ex.opened, ex.filtered).getvalue().splitlines()
    assert csv[0] == ",".join(TABLE_COLUMNS)
    assert [int(line.split(",")[0]) for line in csv[1:]] == ex.filtered.tolist()


def test_view_data_reads_the_right_values(ex, tiny_store):
    with h5py.File(tiny_store, "r") as f:
        start = f["/instances/token_start"][:]
        k = 7
        att = f["/attention/self"][start[k] : start[k + 1]].astype(np.float32)
        special = f["/tokens/special"][start[k] : start[k + 1]]
    ex.instance = k
    ex.layer = 0
    ex.heads = [1, 3]
    vd = ex.view_data()
    np.testing.assert_array_equal(vd.values, att[:, 0, [1, 3]])
    np.testing.assert_allclose(vd.aggregate, att[:, 0, [1, 3]].mean(axis=1))
    ex.aggregation = "std"
    np.testing.assert_allclose(ex.view_data().aggregate, att[:, 0, [1, 3]].std(axis=1, ddof=1))
    ex.scope = "all"
    np.testing.assert_allclose(ex.view_data().aggregate,
                               aggregate(att.reshape(len(att), -1), "std"))
    ex.hide_special = True
    vd = ex.view_data()
    assert len(vd.positions) == int((~special).sum()) and not special[vd.positions].any()
    ex.highlight = 2
    np.testing.assert_array_equal(ex.view_data().highlight, att[~special, 0, 2])


def test_view_data_is_a_function_of_instance_and_settings(ex, tiny_store):
    with h5py.File(tiny_store, "r") as f:
        start = f["/instances/token_start"][:]
        att = f["/attention/self"][start[7] : start[8]].astype(np.float32)
    settings = ViewSettings(layer=0, heads=(1, 3), aggregation="max", scope="heads",
                            hide_special=False, highlight=2)
    vd = view_data(ex.opened.instance(7), settings)
    np.testing.assert_array_equal(vd.values, att[:, 0, [1, 3]])
    np.testing.assert_allclose(vd.aggregate, att[:, 0, [1, 3]].max(axis=1))
    np.testing.assert_array_equal(vd.highlight, att[:, 0, 2])
    assert vd.highlight_label == "layer 0 head 2"
    # the session's settings give the same key and the same values, computed once
    ex.param.update(instance=7, layer=0, heads=[1, 3], aggregation="max", highlight=2)
    assert ex.view_settings() == settings
    shown = ex.view_data()
    np.testing.assert_array_equal(shown.values, vd.values)
    assert ex.view_data() is shown
    ex.layer = 1
    assert ex.view_data() is not shown
    ex.layer = 0
    assert ex.view_data() is shown  # still cached under its key


def test_overview_means_and_click(ex, tiny_store):
    with h5py.File(tiny_store, "r") as f:
        start = f["/instances/token_start"][:]
        att = f["/attention/self"][start[0] : start[1]].astype(np.float32)
    np.testing.assert_allclose(layer_head_means(ex.current(), ex.hide_special), att.mean(axis=0),
                               rtol=1e-6)
    ex.heads = [0]
    ex.select_layer_head(0, 3)
    assert ex.layer == 0 and 3 in ex.heads and ex.highlight == 3


def test_marked_token_resets_on_new_instance(ex):
    ex.marked = 4
    ex.instance = 2
    assert ex.marked == -1


def test_instance_csv(ex, tiny_store):
    ex.instance = 3
    lines = instance_csv(ex.current(), ex.layer).getvalue().splitlines()
    header = lines[0].split(",")
    inst = ex.current()
    assert len(lines) == inst.n_tokens + 1
    assert header[:5] == ["position", "token", "special", "start", "end"]
    assert ("L1H3" in header and "mean (layer 1)" in header
            and "shannon entropy (all layers)" in header)
    col = header.index("L1H2")
    assert float(lines[1 + 5].split(",")[col]) == pytest.approx(float(inst.attention[5, 1, 2]),
                                                                abs=1e-6)


def test_store_is_shared_between_sessions(tiny_store):
    a, b = Explorer(store=tiny_store), Explorer(store=tiny_store)
    assert a.opened is b.opened
    a.filters.misclassified_only = True
    assert b.count == b.total  # filters are per session


# -- the store picker and its root -------------------------------------------------------------

def test_root_listing_and_refusals(tmp_path, tiny_store):
    root = tmp_path / "stores"
    (root / "sub").mkdir(parents=True)
    shutil.copy(tiny_store, root / "a.h5")
    shutil.copy(tiny_store, root / "sub" / "b.h5")
    (root / "x.h5.partial").mkdir()
    (root / "x.h5.partial" / "block-000000.h5").write_bytes(b"")
    (root / ".hidden.h5").write_bytes(b"")
    outside = tmp_path / "outside.h5"
    shutil.copy(tiny_store, outside)
    os.symlink(outside, root / "link.h5")
    assert list_stores(root) == ["a.h5", "sub/b.h5"]  # not the link that points outside
    assert resolve_inside(root, "sub/b.h5") == (root / "sub" / "b.h5").resolve()
    for bad in ("../outside.h5", str(outside), "sub/../../outside.h5", "link.h5", ""):
        with pytest.raises(OutsideRoot):
            resolve_inside(root, bad)
    ex = Explorer(root=root)
    assert ex.store_name == "a.h5" and ex.error == ""
    assert not ex.request_store("../outside.h5")
    assert "not inside the store folder" in ex.error and ex.opened is None
    assert not ex.request_store("link.h5")
    assert ex.opened is None
    assert not ex.request_store("missing.h5")
    assert "no such store" in ex.error and ex.opened is None
    assert ex.request_store("sub/b.h5") and ex.error == "" and ex.count == ex.total
    with pytest.raises(ValueError):  # the picker accepts listed stores only
        ex.store_name = "../outside.h5"


def test_root_defaults_to_the_store_folder(tmp_path, tiny_store):
    shutil.copy(tiny_store, tmp_path / "one.h5")
    shutil.copy(tiny_store, tmp_path / "two.h5")
    ex = Explorer(store=tmp_path / "two.h5")
    assert ex.root == tmp_path.resolve() and ex.store_name == "two.h5"
    assert ex.param.store_name.objects == ["one.h5", "two.h5"]


@pytest.mark.parametrize("damage", ["truncate", "future", "foreign"])
def test_a_bad_store_gives_one_message_and_other_sessions_go_on(tmp_path, tiny_store, damage):
    shutil.copy(tiny_store, tmp_path / "good.h5")
    bad = tmp_path / "bad.h5"
    if damage == "truncate":
        data = tiny_store.read_bytes()
        bad.write_bytes(data[: len(data) // 3])
    elif damage == "future":
        shutil.copy(tiny_store, bad)
        with h5py.File(bad, "a") as f:
            f.attrs["format_version"] = "9.0"
    else:
        with h5py.File(bad, "w") as f:
            f["x"] = [1]
    ex = Explorer(store=bad)
    assert ex.opened is None and ex.error and "\n" not in ex.error and str(bad) in ex.error
    assert ex.count == 0 and ex.view_data() is None
    other = Explorer(store=tmp_path / "good.h5")
    assert other.error == "" and other.count > 0
    ex.store_name = "good.h5"  # the same session recovers by picking another store
    assert ex.error == "" and ex.count == other.count


def test_no_store_configured():
    ex = Explorer()
    assert "--store" in ex.error and ex.opened is None


def test_instance_cache_is_bounded(synth_store):
    ex = Explorer(store=synth_store)
    for k in range(0, 400, 2):
        ex.instance = k
        ex.view_data()
    assert len(ex.opened._instances) <= 64
    registry()  # the registry is process-wide


def test_switching_store_selects_the_new_stores_first_instance(tmp_path, tiny_store, synth_store):
    shutil.copy(tiny_store, tmp_path / "a.h5")
    shutil.copy(synth_store, tmp_path / "b.h5")
    ex = Explorer(root=tmp_path)
    seen = []
    ex.param.watch(lambda e: seen.append(e.new), "instance")
    ex.instance = 3
    ex.store_name = "b.h5"
    assert ex.instance == 0 and seen[-1] == 0  # views were told, even though 3 fits b too
    assert ex.current().document_id == ex.opened.store.document_ids([0])[0]


def test_the_design_notes_name_every_explorer_module():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    design = (root / "docs" / "design.md").read_text()
    package = root / "attviz" / "explore"
    modules = sorted(package.rglob("*.py"))
    assert len(modules) > 20  # the package is where this looks
    for path in modules:
        if path.name == "__init__.py":
            continue
        name = path.relative_to(package).as_posix()
        assert name in design, f"docs/design.md does not name attviz/explore/{name}"
        # each module opens with a docstring naming its job
        assert path.read_text().startswith('"""'), name


