"""The sidebar's filters (attviz/explore/filters.py) through a session, against the store
read with h5py: each filter, their combination, the selection they keep, labels that look
like the page's own wording, head conditions, tokens, and their part of the address bar."""

from __future__ import annotations

import h5py
import numpy as np

from attviz.explore.rows import table_frame
from attviz.explore.state import Explorer
from tests.helpers.raw import instance_columns as raw
from tests.helpers.stores import ODD_LABEL_NAMES


def test_misclassified_only_matches_h5py(ex, tiny_store):
    r = raw(tiny_store)
    want = np.flatnonzero((r["label"] >= 0) & (r["label"] != r["prediction"]))
    ex.filters.misclassified_only = True
    assert ex.count == len(want) > 0
    np.testing.assert_array_equal(ex.filtered, want)
    assert ex.instance == want[0] or ex.instance in want


def test_filters_combine(ex, tiny_store):
    r = raw(tiny_store)
    ex.filters.gold = [0, 2]
    ex.filters.predicted = [1]
    ex.filters.confidence = (0.0, 0.5)
    ex.filters.tokens = (10, 30)
    want = ((np.isin(r["label"], [0, 2])) & (r["prediction"] == 1) & (r["confidence"] <= 0.5)
            & (r["tokens"] >= 10) & (r["tokens"] <= 30))
    np.testing.assert_array_equal(ex.filtered, np.flatnonzero(want))
    ex.filters.reset()
    assert ex.count == ex.total and ex.filters.active() == []
    ex.filters.cell = (2, 0)
    want = (r["label"] == 2) & (r["prediction"] == 0)
    np.testing.assert_array_equal(ex.filtered, np.flatnonzero(want))


def test_text_filter(synth_store):
    ex = Explorer(store=synth_store)
    texts = ex.opened.store.texts(np.arange(ex.total))
    word = texts[5].split()[3]
    ex.filters.text = word.upper()
    want = [i for i, t in enumerate(texts) if word in t.lower()]
    assert list(ex.filtered) == want
    ex.filters.case_sensitive = True
    assert ex.count == 0
    ex.filters.text = ""
    assert ex.count == ex.total


def test_selection_kept_when_it_passes_else_first(ex, tiny_store):
    r = raw(tiny_store)
    wrong = np.flatnonzero((r["label"] >= 0) & (r["label"] != r["prediction"]))
    ex.instance = int(wrong[3])
    ex.filters.misclassified_only = True
    assert ex.instance == wrong[3]
    right = np.flatnonzero(r["label"] == r["prediction"])
    ex.filters.misclassified_only = False
    ex.instance = int(right[0])
    ex.filters.misclassified_only = True
    assert ex.instance == wrong[0]
    ex.filters.cell = (0, 0)  # correct cells and misclassified: nothing
    assert ex.count == 0 and ex.instance == -1
    assert ex.current() is None and ex.view_data() is None
    assert len(table_frame(ex.opened, ex.page_indices())) == 0


def test_label_names_with_arrows_digits_and_spaces(odd_label_store):
    import panel as pn

    path = odd_label_store
    r = raw(path)
    assert r["names"] == ODD_LABEL_NAMES
    ex = Explorer(store=path)
    assert list(ex.filters.param.gold.names) == ODD_LABEL_NAMES
    cells = ex.filters.param.cell.names  # label -> value
    assert len(cells) == 1 + len(ODD_LABEL_NAMES) ** 2  # every label unique
    # without quotes both would read "a → b → 3"
    assert cells["a → “b → 3”"] == (3, 4) and cells["“a → b” → 3"] == (0, 1)
    assert cells["3 → x y"] == (1, 2) and cells["any"] is None
    for cell in cells.values():  # set by value, counted against the file
        ex.filters.cell = cell
        want = np.ones(len(r["label"]), bool) if cell is None else \
            (r["label"] == cell[0]) & (r["prediction"] == cell[1])
        np.testing.assert_array_equal(ex.filtered, np.flatnonzero(want))
    ex.filters.cell = None
    ex.filters.gold, ex.filters.predicted = [1, 2], [4]
    want = np.isin(r["label"], [1, 2]) & (r["prediction"] == 4)
    assert ex.count == int(want.sum()) > 0
    np.testing.assert_array_equal(ex.filtered, np.flatnonzero(want))
    # the widgets show labels and set values
    boxes = pn.widgets.CheckBoxGroup.from_param(ex.filters.param.gold)
    assert list(boxes.options) == ODD_LABEL_NAMES and boxes.value == [1, 2]
    ex.filters.gold, ex.filters.predicted = [], []
    select = pn.widgets.Select.from_param(ex.filters.param.cell)
    assert list(select.options) == list(cells)
    select.value = (0, 1)
    assert ex.filters.cell == (0, 1)
    assert ex.count == int(((r["label"] == 0) & (r["prediction"] == 1)).sum())
    assert ex.param.highlight.names == {"aggregate": None, "head 0": 0, "head 1": 1, "head 2": 2}
    assert ex.param.scope.names == {"shown heads of the layer": "heads",
                                    "all layers x heads": "all"}


def test_cell_labels_are_unique_whatever_the_names():
    from attviz.explore.choices import cell_choices, class_choices, unique_labels

    assert unique_labels(["x", "x", "x (2)", "y", "x"]) == ["x", "x (3)", "x (2)", "y", "x (4)"]
    assert class_choices(["same", "same"]) == {"same": 0, "same (2)": 1}
    names = ["a", "b → c", "a → b", "c", "", " pad"]
    cells = cell_choices(names)
    assert len(cells) == 1 + len(names) ** 2
    assert sorted(v for v in cells.values() if v is not None) == \
        [(g, p) for g in range(len(names)) for p in range(len(names))]
    assert cells["a → “b → c”"] == (0, 1) and cells["“a → b” → c"] == (2, 3)
    assert cells["“” → “ pad”"] == (4, 5)


def test_head_queries_filter_and_sort_by_a_head(tiny_store):
    """The sidebar's head conditions and "sort by this head", against the statistics read
    with h5py."""
    from attviz.explore.views.queries import QueryEditor

    with h5py.File(tiny_store, "r") as f:
        values = f["/instances/head_stats/self_max"][:, 1, 3].astype(np.float64)
        first = f["/instances/head_stats/first_mass"][:, 0, 2].astype(np.float64)
    ex = Explorer(store=tiny_store)
    q = QueryEditor(explorer=ex)
    q.statistic.value, q.layer.value, q.head.value = "self_max", 1, 3
    q.threshold.value = float(np.median(values))
    q.add_condition()
    assert ex.filtered.tolist() == np.flatnonzero(values >= q.threshold.value).tolist()
    q.statistic.value, q.layer.value, q.head.value, q.op.value = "first_mass", 0, 2, "<="
    q.threshold.value = float(np.median(first))
    q.add_condition()
    both = (values >= np.median(values)) & (first <= np.median(first))
    assert ex.filtered.tolist() == np.flatnonzero(both).tolist()
    assert len(ex.filters.head_filters) == 2
    ex.filters.head_filters = []
    q.statistic.value, q.layer.value, q.head.value = "self_max", 1, 3
    q.sort_by_head()
    assert ex.filtered.tolist() == np.argsort(-values, kind="stable").tolist()
    assert ex.page == 1 and ex.page_indices()[0] == int(np.argmax(values))


def test_the_token_filter_keeps_the_instances_holding_the_token(tiny_store):
    with h5py.File(tiny_store, "r") as f:
        start, ids = f["/instances/token_start"][:], f["/tokens/id"][:]
    ex = Explorer(store=tiny_store)
    for v in sorted(set(ids.tolist()))[::7]:
        ex.filters.token = int(v)
        want = [k for k in range(len(start) - 1) if v in ids[start[k] : start[k + 1]]]
        assert ex.filtered.tolist() == want
    ex.filters.token = -1
    assert ex.count == ex.total


def test_filters_and_order_by_hand():
    from types import SimpleNamespace

    from attviz.explore.filters import Filters
    from attviz.explore.rows import order
    from attviz.explore.stores import DerivedColumns
    from attviz.store.base import Columns

    cols = DerivedColumns.from_columns(Columns(
        token_start=np.array([0, 5, 9, 20, 22]),
        label=np.array([0, 1, -1, 2], np.int16), prediction=np.array([0, 2, 1, 2], np.int16),
        probabilities=np.array([[.9, .05, .05], [.2, .3, .5], [.3, .4, .3], [.1, .1, .8]],
                               np.float32),
        document=np.array([0, 0, 1, 2]), segment=np.array([0, 1, 0, 0], np.int32)))
    texts = {"x": np.array([True, False, True, False])}
    shared = SimpleNamespace(cols=cols, label_names=["a", "b", "c"],
                             search_text=lambda q, case, inside: texts[q])
    f = Filters()
    f.configure(shared.label_names, 11)
    assert f.mask(shared).all() and f.active() == []
    for values, want in ((dict(misclassified_only=True), [False, True, False, False]),
                         (dict(gold=[2]), [False, False, False, True]),
                         (dict(predicted=[1, 2]), [False, True, True, True]),
                         (dict(cell=(1, 2)), [False, True, False, False]),
                         (dict(confidence=(0.4, 0.6)), [False, True, True, False]),
                         (dict(tokens=(4, 5)), [True, True, False, False]),
                         (dict(text="x"), [True, False, True, False]),
                         (dict(text="x", gold=[0, 1]), [True, False, False, False])):
        f.reset()
        f.param.update(**values)
        assert f.mask(shared).tolist() == want, values
        assert sorted(f.active()) == sorted(values)
    mask = np.ones(4, bool)
    assert order(cols, mask, "confidence").tolist() == [2, 1, 3, 0]
    assert order(cols, mask, "confidence", descending=True).tolist() == [0, 3, 1, 2]
    assert order(cols, mask, "tokens", descending=True).tolist() == [2, 0, 1, 3]


def _every_filter(ex, word: str, token: int) -> None:
    from attviz.explore.filters import HeadCondition

    ex.filters.param.update(
        misclassified_only=True, gold=[0, 1, 3], predicted=[1, 2, 4], confidence=(0.05, 0.95),
        tokens=(6, 23), text=word, case_sensitive=True, inside_words=True, token=token,
        head_filters=[HeadCondition("self_max", 1, 2, 0.01),
                      HeadCondition("self_mean", 0, 1, 0.9, "<=")])


def test_every_filter_survives_the_address_bar(odd_label_store):
    """What a copied link carries opens the same slice and instance in another session, even
    with label names that look like the page's own wording (a → b, 3, spaces)."""
    from attviz.explore.address import follow, query
    from attviz.explore.filters import QUERY_NAMES

    a = Explorer(store=odd_label_store)
    texts = a.opened.store.texts([3])
    word = texts[0].split()[0][:3]
    token = int(a.opened.store.read_instance(3).token_ids[2])
    _every_filter(a, word, token)
    assert 0 < a.count < a.total, "the filters leave some instances, not all"
    a.instance = int(a.filtered[-1])
    args = query(a)
    assert args["misclassified"] == ["1"] and args["case"] == ["1"] and args["inwords"] == ["1"]
    assert args["gold"] == ["a → b", "3", "a"] and len(args["head"]) == 2
    b = Explorer(store=odd_label_store)
    follow(b, args)
    for name in QUERY_NAMES:
        assert getattr(b.filters, name) == getattr(a.filters, name), name
    assert b.filtered.tolist() == a.filtered.tolist() and b.instance == a.instance
    assert b.notice == ""
    a.filters.param.update(misclassified_only=False, cell=(0, 1), gold=[], predicted=[],
                           text="", token=-1, head_filters=[])
    c = Explorer(store=odd_label_store)
    follow(c, query(a))
    assert c.filters.cell == (0, 1) and c.filtered.tolist() == a.filtered.tolist()
    assert query(Explorer(store=odd_label_store)).keys() == {"store", "instance"}


def test_an_address_naming_what_the_store_lacks_says_so_and_applies_the_rest(tiny_store):
    from attviz.explore.address import follow

    ex = Explorer(store=tiny_store)
    follow(ex, {"misclassified": ["1"], "gold": ["no such label"],
                "head": ["self_max:9:1:>=:0.5", "x"], "tokens": ["5"],
                "token": ["not-a-token-of-this-vocabulary"], "confidence": ["0.2,7"]})
    assert ex.filters.misclassified_only and ex.filters.active() == ["misclassified_only"]
    for key in ("gold", "head", "tokens", "token", "confidence"):
        assert key in ex.notice
    r = raw(tiny_store)
    assert ex.count == int(((r["label"] >= 0) & (r["label"] != r["prediction"])).sum())
