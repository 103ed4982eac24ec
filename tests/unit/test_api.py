"""The notebook API (attviz.open, attviz.explorer), checked against the files read with h5py."""

import html

import h5py
import numpy as np
import pytest
import xarray as xr

import attviz
from attviz.store import StoreError, shard_name
from tests.helpers.paths import ROOT
from tests.helpers.stores import synth_store

V1 = ROOT / "tests" / "data" / "store-v1.0.h5"
V1_1 = ROOT / "tests" / "data" / "store-v1.1.h5"


def _strings(f, group, i=None):
    off, data = f[group + "/offsets"][:], f[group + "/data"][:].tobytes()
    items = range(len(off) - 1) if i is None else [i]
    out = [data[off[k] : off[k + 1]].decode() for k in items]
    return out if i is None else out[0]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api") / "shards"
    for i, n in enumerate((300, 200)):
        # one vocabulary: the same seed
        synth_store(folder / shard_name(i, 2), n, layers=2, heads=3, classes=3, max_tokens=24)
    return folder


def test_instances_frame_matches_h5py():
    with attviz.open(V1) as s, h5py.File(V1, "r") as f:
        df = s.instances
        names = [x.decode() if isinstance(x, bytes) else x for x in f.attrs["label_names"]]
        label, pred = f["/instances/label"][:], f["/instances/prediction"][:]
        probs = f["/instances/probabilities"][:]
        docs = _strings(f, "/documents/id")
        assert list(df.index) == list(range(len(label)))
        assert df["document"].tolist() == [docs[d] for d in f["/instances/document"][:]]
        assert (label < 0).any()
        assert df["gold"].isna().tolist() == (label < 0).tolist()
        assert df["gold"].dropna().tolist() == [names[g] for g in label if g >= 0]
        assert df["predicted"].tolist() == [names[p] for p in pred]
        assert list(df["gold"].cat.categories) == names
        np.testing.assert_allclose(df["confidence"], probs.max(axis=1))
        assert df["correct"].isna().tolist() == (label < 0).tolist()
        assert df["correct"].dropna().tolist() == [bool(g == p) for g, p in zip(label, pred)
                                                   if g >= 0]
        assert df["tokens"].tolist() == np.diff(f["/instances/token_start"][:]).tolist()
        assert df["segment"].tolist() == f["/instances/segment"][:].tolist()


def test_attention_as_xarray_with_token_coordinates():
    with attviz.open(V1) as s, h5py.File(V1, "r") as f:
        start = f["/instances/token_start"][:]
        vocab = _strings(f, "/vocab/token")
        for k in (0, 5, len(s) - 1):
            a = s.attention(k)
            lo, hi = start[k], start[k + 1]
            assert isinstance(a, xr.DataArray) and a.dims == ("tokens", "layers", "heads")
            np.testing.assert_array_equal(a.values, f["/attention/self"][lo:hi].astype(np.float32))
            assert list(a.coords["token"].values) == [vocab[i] for i in f["/tokens/id"][lo:hi]]
            assert list(a.coords["special"].values) == f["/tokens/special"][lo:hi].tolist()
            # named selection works as a notebook user would write it
            np.testing.assert_allclose(a.sel(layers=1).mean("heads").values,
                                       f["/attention/self"][lo:hi, 1].astype(np.float32).mean(1))
        with pytest.raises(IndexError):
            s.attention(len(s))


def test_head_stats_as_xarray_match_h5py():
    with attviz.open(V1_1) as s, h5py.File(V1_1, "r") as f:
        names = sorted(f["/instances/head_stats"])
        assert sorted(s.head_stat_names) == names and "self_mean" in names
        layers, heads = f.attrs["num_layers"], f.attrs["num_heads"]
        for name in names:
            a = s.head_stats(name)
            raw = f[f"/instances/head_stats/{name}"][:]
            assert isinstance(a, xr.DataArray) and a.name == name
            assert a.dims == ("instances", "layers", "heads")
            assert a.dtype == (np.float32 if raw.dtype == np.float16 else raw.dtype)
            np.testing.assert_array_equal(a.values, raw)
            assert a.coords["instances"].values.tolist() == list(range(len(s)))
            assert a.coords["layers"].values.tolist() == list(range(layers))
            assert a.coords["heads"].values.tolist() == list(range(heads))
        # as a notebook user would write it: one head, the mean of the misclassified
        wrong = s.instances.index[s.instances["correct"] == False].to_numpy()  # noqa: E712
        raw = f["/instances/head_stats/self_mean"][:]
        got = s.head_stats("self_mean").sel(layers=1, heads=0, instances=wrong).values
        np.testing.assert_array_equal(got, raw[wrong, 1, 0])


def test_head_stats_missing_say_what_the_store_has_and_how_to_get_them():
    with attviz.open(V1) as s:  # format 1.0: no statistics
        assert s.head_stat_names == []
        with pytest.raises(StoreError) as e:
            s.head_stats("self_mean")
        msg = str(e.value)
        assert "no head statistic 'self_mean'" in msg and "holds none" in msg
        assert "`attviz index STORE`" in msg and "\n" not in msg
    with attviz.open(V1_1) as s:
        with pytest.raises(StoreError) as e:
            s.head_stats("no_such")
        msg = str(e.value)
        assert all(n in msg for n in s.head_stat_names) and "attviz index" in msg


def test_search_equals_a_scan_of_the_texts(shards):
    with attviz.open(shards) as s:
        texts = [t for p in sorted(shards.glob("*.h5")) for t in _texts(p)]
        assert len(s) == len(texts) == 500
        word = texts[7].split()[2]
        # through the token index: the word where it stands as a token (a whole word here)
        want = [i for i, t in enumerate(texts) if word in t.lower().split()]
        assert s.search(word.upper()).tolist() == want and len(want) > 0
        assert s.search(word.upper(), case_sensitive=True).tolist() == []
        # scanning: anywhere in the text
        inside = [i for i, t in enumerate(texts) if word in t.lower()]
        assert s.search(word, inside_words=True).tolist() == inside
        assert s.instances["document"].iloc[-1] == _strings(h5py.File(sorted(
            shards.glob("*.h5"))[1]), "/documents/id")[-1]


def _texts(path):
    with h5py.File(path, "r") as f:
        return _strings(f, "/instances/text")


def test_explorer_is_a_panel_object_showing_the_store():
    from bokeh.document import Document

    app = attviz.explorer(V1)
    doc = Document()
    root = app.get_root(doc)
    texts = [html.unescape(t) for m in root.references()
             if isinstance(t := getattr(m, "text", None), str)]
    with h5py.File(V1, "r") as f:
        n = len(f["/instances/label"])
    assert any(f"<b>{n}</b> of {n} instances" in t for t in texts)
