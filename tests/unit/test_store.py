"""The store package: round trips, lazy reading, shards, merges and clear errors."""

import os
import shutil

import h5py
import numpy as np
import pytest

from attviz.store import (
    FORMAT_VERSION,
    ShardedStore,
    Store,
    StoreError,
    StoreMeta,
    StoreWriter,
    merge,
    open_store,
    shard_name,
)
from tests.helpers.stores import split_into_shards, synth_store


@pytest.fixture(scope="module")
def synth(make_synth):
    return make_synth(500, layers=3, heads=4, classes=3, max_tokens=40, part_size=128)


def test_layout_is_readable_with_plain_h5py(synth):
    with h5py.File(synth, "r") as f:
        assert f.attrs["format"] == "attviz"
        assert f.attrs["format_version"] == FORMAT_VERSION
        att = f["/attention/self"]
        assert att.dtype == np.float16 and att.shape[1:] == (3, 4)
        assert list(att.attrs["dims"]) == ["tokens", "stored_layers", "heads"]
        assert list(f.attrs["stored_layers"]) == [0, 1, 2]
        assert att.chunks is not None
        start = f["/instances/token_start"][:]
        assert start[0] == 0 and start[-1] == att.shape[0] == f["/tokens/id"].shape[0]
        assert f["/tokens/id"].dtype == np.int32
        assert f["/instances/label"].dtype == np.int16
        assert f["/instances/prediction"].dtype == np.int16
        assert f["/instances/probabilities"].dtype == np.float32
        assert f["/instances/probabilities"].shape == (500, 3)
        assert len(f["/instances/text/offsets"]) == 501


def test_stores_are_written_in_hdf5_1_10_format(synth, tmp_path):
    """Object headers and chunk indexes of HDF5 1.10 (superblock version 3): a quarter of
    the earliest format's metadata. The same data in the earliest format has more bytes
    beside its datasets' own."""
    with h5py.File(synth, "r") as f:
        assert f.id.get_create_plist().get_version()[0] >= 2
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        stored = sum(f[n].id.get_storage_size() for n in names)
        old = tmp_path / "earliest.h5"
        with h5py.File(old, "w", libver="earliest") as g:
            for n in names:
                kw = {"chunks": f[n].chunks} if f[n].chunks else {}
                for fid, opts in f[n]._filters.items():  # one filter each (Blosc2, Zstd)
                    kw.update(compression=int(fid), compression_opts=tuple(opts))
                g.create_dataset(n, data=f[n][:], maxshape=f[n].maxshape, **kw)
    with h5py.File(old, "r") as g:
        assert g.id.get_create_plist().get_version()[0] == 0
        old_stored = sum(g[n].id.get_storage_size() for n in names)
    assert old_stored == stored  # the same chunks, compressed the same
    assert os.path.getsize(synth) - stored < (os.path.getsize(old) - old_stored) / 2


def test_reader_matches_raw_hdf5(synth):
    with Store(synth) as s, h5py.File(synth, "r") as f:
        start = f["/instances/token_start"][:]
        vocab_off = f["/vocab/token/offsets"][:]
        vocab_data = f["/vocab/token/data"][:].tobytes()
        for k in (0, 17, 499):
            inst = s.read_instance(k)
            a, b = start[k], start[k + 1]
            np.testing.assert_array_equal(inst.attention,
                                          f["/attention/self"][a:b].astype(np.float32))
            np.testing.assert_array_equal(inst.token_ids, f["/tokens/id"][a:b])
            toff = f["/instances/text/offsets"][k : k + 2]
            assert inst.text == f["/instances/text/data"][toff[0] : toff[1]].tobytes().decode()
            ids = f["/tokens/id"][a:b]
            assert inst.tokens == [vocab_data[vocab_off[i] : vocab_off[i + 1]].decode()
                                   for i in ids]
            assert inst.label == f["/instances/label"][k]
            for (x, y), tok, sp in zip(inst.spans, inst.tokens, inst.special):
                if not sp:
                    assert inst.text[x:y] == tok


def test_batch_read_equals_single_reads(synth):
    with Store(synth) as s:
        idx = [3, 4, 5, 90, 91, 400]
        batch = s.read_instances(idx)
        for k, inst in zip(idx, batch):
            single = s.read_instance(k)
            assert inst.index == k
            np.testing.assert_array_equal(inst.attention, single.attention)
            assert inst.text == single.text and inst.document_id == single.document_id
        with pytest.raises(ValueError):
            s.read_instances([5, 3])
        with pytest.raises(IndexError):
            s.read_instance(500)


def test_open_reads_no_per_token_data(synth, monkeypatch):
    """Opening touches per-instance datasets only; /attention and /tokens stay unread."""
    read = []
    orig = h5py.Dataset.__getitem__

    def spy(self, sel):
        read.append(self.name)
        return orig(self, sel)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    with Store(synth) as s:
        assert not [n for n in read if n.startswith(("/attention", "/tokens"))]
        read.clear()
        s.read_instance(7)
        assert "/attention/self" in read


def test_search_text(synth):
    with Store(synth) as s:
        texts = s.texts(np.arange(s.n_instances))
        word = texts[10].split()[2]
        expected = np.array([word in t for t in texts])
        np.testing.assert_array_equal(s.search_text(word), expected)
        np.testing.assert_array_equal(s.search_text(word.upper()), expected)
        assert not s.search_text(word.upper(), case_sensitive=True).any()
        assert s.search_text("").all()
        # a match may not run across two instances' texts
        joined = texts[0][-2:] + texts[1][:2]
        hits = s.search_text(joined, case_sensitive=True)
        assert hits.sum() == sum(joined in t for t in texts)


def test_search_text_spans_read_blocks(synth, monkeypatch):
    import attviz.store.textscan as scan

    monkeypatch.setattr(scan, "BLOCK", 97)  # force matches across block edges
    with Store(synth) as s:
        texts = s.texts(np.arange(s.n_instances))
        for word in {t.split()[1] for t in texts[:20]}:
            np.testing.assert_array_equal(s.search_text(word), [word in t for t in texts])


def test_writer_is_atomic(tmp_path):
    out = tmp_path / "x.h5"
    meta = StoreMeta(["a"], 1, 1)
    with pytest.raises(RuntimeError):
        with StoreWriter(out, meta, ["[PAD]"]):
            raise RuntimeError("boom")
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left behind


def test_empty_store(tmp_path):
    out = tmp_path / "empty.h5"
    with StoreWriter(out, StoreMeta(["a", "b"], 2, 2), ["[PAD]"]):
        pass
    with Store(out) as s:
        assert s.n_instances == 0 and s.n_tokens == 0
        assert not s.search_text("x").any()


# -- errors ------------------------------------------------------------------------------------

def _one_line(e: Exception) -> str:
    msg = str(e)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_error_missing_file(tmp_path):
    with pytest.raises(StoreError) as e:
        Store(tmp_path / "nope.h5")
    assert "no such file" in _one_line(e.value)


def test_error_not_hdf5(tmp_path):
    p = tmp_path / "x.h5"
    p.write_text("id,text\n1,hello\n")
    with pytest.raises(StoreError) as e:
        Store(p)
    assert "not an HDF5 file" in _one_line(e.value)


def test_error_foreign_hdf5(tmp_path):
    p = tmp_path / "foreign.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(StoreError) as e:
        Store(p)
    assert "not an attviz store" in _one_line(e.value)


def altered_copy(src, path):
    """A copy of the store ``src`` at ``path``, to be altered by the test."""
    shutil.copy(src, path)
    return path


def test_error_future_major_version(tmp_path, synth):
    p = altered_copy(synth, tmp_path / "future.h5")
    with h5py.File(p, "a") as f:
        f.attrs["format_version"] = "2.0"
        f.attrs["attviz_version"] = "2.3.1"
    with pytest.raises(StoreError) as e:
        Store(p)
    msg = _one_line(e.value)
    assert "format 2.0" in msg and "attviz 2.3.1 or newer" in msg


def test_newer_minor_version_is_read(tmp_path, synth):
    p = altered_copy(synth, tmp_path / "minor.h5")
    with h5py.File(p, "a") as f:
        f.attrs["format_version"] = "1.7"
    with Store(p) as s:
        assert s.meta.format_version == "1.7" and s.n_instances == 500


def test_error_truncated(tmp_path, synth):
    p = tmp_path / "cut.h5"
    data = synth.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError) as e:
        s = Store(p)
        s.read_instance(s.n_instances - 1)  # if the header survived, the data did not
    assert str(p) in _one_line(e.value)


def test_error_names_missing_dataset(tmp_path, synth):
    p = altered_copy(synth, tmp_path / "gap.h5")
    with h5py.File(p, "a") as f:
        del f["/instances/prediction"]
    with pytest.raises(StoreError) as e:
        Store(p)
    assert "/instances/prediction" in _one_line(e.value)


def test_error_inconsistent_offsets(tmp_path, synth):
    p = altered_copy(synth, tmp_path / "bad.h5")
    with h5py.File(p, "a") as f:
        ts = f["/instances/token_start"]
        ts[-1] = ts[-1] + 5
    with pytest.raises(StoreError) as e:
        Store(p)
    assert "/instances/token_start" in _one_line(e.value)


def test_fragment_is_refused(tmp_path):
    p = tmp_path / "block.h5"
    with StoreWriter(p, StoreMeta(["a"], 1, 1), None, fragment=True):
        pass
    with pytest.raises(StoreError, match="unfinished precompute"):
        Store(p)
    Store(p, fragment=True).close()


# -- shards and merges -------------------------------------------------------------------------

def test_iter_parts_keeps_documents_whole(synth):
    with Store(synth) as s:
        seen = []
        for p in s.iter_parts(max_instances=37):
            seen.extend(p.document_ids.to_list())
        assert seen == s.document_ids(np.arange(s.n_documents))  # each document once, in order


def test_sharded_store_reads_like_the_whole(tmp_path, synth):
    split_into_shards(synth, tmp_path / "shards", 37, 3)
    whole, sharded = Store(synth), open_store(tmp_path / "shards")
    assert isinstance(sharded, ShardedStore)
    assert sharded.n_instances == whole.n_instances and sharded.n_documents == whole.n_documents
    for name in ("token_start", "label", "prediction", "probabilities", "document", "segment"):
        np.testing.assert_array_equal(getattr(sharded.columns, name), getattr(whole.columns, name))
    idx = [0, 150, 151, 320, 499]
    for a, b in zip(sharded.read_instances(idx), whole.read_instances(idx)):
        assert a.index == b.index and a.document_id == b.document_id and a.text == b.text
        np.testing.assert_array_equal(a.attention, b.attention)
    word = whole.texts([3])[0].split()[0]
    np.testing.assert_array_equal(sharded.search_text(word), whole.search_text(word))
    assert sharded.document_ids([0, 60, 124]) == whole.document_ids([0, 60, 124])


def test_missing_shard_is_named(tmp_path, synth):
    split_into_shards(synth, tmp_path / "shards", 37, 3)
    os.remove(tmp_path / "shards" / shard_name(1, 3))
    with pytest.raises(StoreError, match=r"shard\(s\) \[1\] of 3 are missing"):
        open_store(tmp_path / "shards")


def test_merge_equals_original(tmp_path, synth):
    split_into_shards(synth, tmp_path / "shards", 37, 4)
    out = merge([tmp_path / "shards"], tmp_path / "merged.h5")
    with h5py.File(synth, "r") as a, h5py.File(out, "r") as b:
        for name in ("/attention/self", "/tokens/id", "/tokens/span", "/tokens/special",
                     "/instances/token_start", "/instances/label", "/instances/prediction",
                     "/instances/probabilities", "/instances/document", "/instances/segment",
                     "/instances/text/data", "/instances/text/offsets", "/documents/id/data",
                     "/documents/id/offsets", "/documents/row", "/vocab/token/data"):
            np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)


def test_merge_refuses_mismatched_stores(tmp_path, synth):
    other = tmp_path / "other.h5"
    synth_store(other, 10, layers=2, heads=4, classes=3, max_tokens=20)
    with pytest.raises(StoreError, match="layers x heads"):
        merge([synth, other], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()


def test_search_text_folds_unicode_case(tmp_path):
    from attviz.store import Part, StringArray

    texts = ["Über alles", "die STRASSE", "straße und Weg", "plain ascii"]
    n = len(texts)
    part = Part(
        token_count=[1] * n, label=[0] * n, prediction=[0] * n, probabilities=np.ones((n, 1)),
        document=list(range(n)), segment=[0] * n, text=StringArray.from_list(texts),
        attention=np.zeros((n, 1, 1)), token_id=np.zeros(n), span=np.zeros((n, 2)),
        special=np.zeros(n, bool), document_ids=StringArray.from_list(list("abcd")),
        document_row=list(range(n)))
    with StoreWriter(tmp_path / "u.h5", StoreMeta(["x"], 1, 1), ["[PAD]"]) as w:
        w.append(part)
    with Store(tmp_path / "u.h5") as s:
        assert s.search_text("über").tolist() == [True, False, False, False]
        assert s.search_text("ÜBER", case_sensitive=True).tolist() == [False] * 4
        assert s.search_text("straße").tolist() == [False, True, True, False]  # ß folds to ss
        assert s.search_text("ASCII").tolist() == [False, False, False, True]


def test_format_doc_lists_exactly_the_layout_table():
    """docs/format.md's dataset tables name every dataset of the layout, with its shape and
    dtype, and nothing else."""
    import re

    from attviz.store import layout as L
    from tests.helpers.paths import ROOT

    text = (ROOT / "docs" / "format.md").read_text()
    section = re.search(r"^## Datasets$(.*?)^## (?!#)", text, flags=re.S | re.M).group(1)
    rows = re.findall(r"^\| `(/[^`]+)` \|([^|]*)\|([^|]*)\|", section, flags=re.M)
    documented = {path: (shape.strip(), dtype.strip()) for path, shape, dtype in rows}
    assert len(documented) == len(rows), "a dataset is listed twice"
    assert set(documented) == {d.path for d in L.LAYOUT}
    for d in L.LAYOUT:
        shape, dtype = documented[d.path]
        if d.encoding == L.STRINGS:
            assert shape == "string array" and dtype == "", d.path
            continue
        names = [f"{d.rows} + 1"] if d.encoding == L.OFFSETS else list(d.dims)
        assert shape == "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")", d.path
        assert dtype == ("float16 or log8" if d.log8 else d.dtype), d.path


def test_reading_converts_only_what_the_file_causes(synth):
    """An HDF5 failure inside ``reading`` is a StoreError naming the path; a fault of attviz
    keeps its own type and traceback."""
    from attviz.store.errors import reading

    with h5py.File(synth, "r") as f:
        with pytest.raises(StoreError, match="/no/such is missing"):
            with reading(synth, "/no/such"):
                f["/no/such"]
        with pytest.raises(StoreError, match="cannot read"):
            with reading(synth, "/instances/label"):
                raise OSError("Can't read data (inflate() failed)")
    with pytest.raises(KeyError, match="a bug"):
        with reading(synth, "/instances/label"):
            {}["a bug"]
    with pytest.raises(ZeroDivisionError):
        with reading(synth, "/instances/label"):
            _ = 1 / 0


def test_derived_tables_are_cut_into_even_chunks():
    from attviz.store.layout import even_chunk_rows

    for rows in [1, 2, 7, 1820, 1821, 29_991, 65_537]:
        for most in [1, 3, 1820, 4096, 100_000]:
            per = even_chunk_rows(rows, most)
            fewest = -(-rows // most)  # no more chunks than the largest allowed would give
            assert 1 <= per <= most and -(-rows // per) == fewest
            assert per * fewest - rows < fewest  # the last chunk is nearly full


def test_an_unfiltered_profile_table_wastes_no_chunk(tmp_path):
    path = synth_store(tmp_path / "x.h5", 300, compression="none")
    with h5py.File(path, "r") as f:
        for name in ("profiles/token/mean", "profiles/token/id", "index/token/offsets"):
            ds = f[name]
            stored, used = ds.id.get_storage_size(), ds.size * ds.dtype.itemsize
            assert used <= stored < used + ds.nbytes / ds.shape[0] * -(-len(ds) // ds.chunks[0])
