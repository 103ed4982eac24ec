"""The self-attention written in a background thread, and gzip chunks deflated in threads
(attviz/store/sink.py): what a reader gets is what HDF5's own filters would give."""

import zlib

import h5py
import numpy as np
import pytest

from attviz.store import Store, StoreWriter, codec, sink
from attviz.store import layout as L
from tests.helpers.stores import synth_store

SHAPES = {"f16": ((3000, 6, 12), np.float16), "u8": ((5000, 6, 12), np.uint8),
          "i64": ((70_000,), np.int64), "f64": ((2900, 3), np.float64)}


def _data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.random(shape) ** 4).astype(dtype)
    return rng.integers(0, 200, shape).astype(dtype)


@pytest.mark.parametrize("key", SHAPES)
def test_a_gzip_array_deflated_in_threads_reads_back_through_hdf5(tmp_path, key):
    shape, dtype = SHAPES[key]
    data = _data(shape, dtype)
    chunks = (1024, *shape[1:])
    with h5py.File(tmp_path / "x.h5", "w") as f:
        ours = f.create_dataset("ours", shape=shape, dtype=dtype, chunks=chunks,
                                **codec.filters(codec.GZIP, dtype))
        assert sink._direct_gzip(ours)
        sink.write_array(ours, data, codec.GZIP)
        hdf5 = f.create_dataset("hdf5", data=data, chunks=chunks,
                                **codec.filters(codec.GZIP, dtype))
        # the chunk HDF5's filters made, undone by hand: deflate over a byte shuffle
        raw = zlib.decompress(hdf5.id.read_direct_chunk((0,) * len(shape))[1])
        assert raw == sink_unshuffled(data[:1024], dtype)
    with h5py.File(tmp_path / "x.h5", "r") as f:  # HDF5's own filters decode both
        np.testing.assert_array_equal(f["ours"][:], data)
        assert f["ours"].compression == "gzip" and f["ours"].shuffle == (key != "u8")
        ratio = f["ours"].id.get_storage_size() / f["hdf5"].id.get_storage_size()
        assert 0.97 < ratio < 1.03


def sink_unshuffled(values, dtype) -> bytes:
    """``values`` as HDF5's shuffle filter lays them out: byte 0 of every value, byte 1..."""
    size = np.dtype(dtype).itemsize
    return np.ascontiguousarray(np.ascontiguousarray(values).view(np.uint8)
                                .reshape(-1, size).T).tobytes()


@pytest.mark.parametrize("compression", codec.COMPRESSIONS)
def test_appends_of_any_length_land_in_place(tmp_path, compression):
    data = _data((1024 * 5 + 17, 2, 3), np.float16, seed=1)
    cuts = np.cumsum([1, 1023, 0, 1025, 2000, 7])
    with h5py.File(tmp_path / "x.h5", "w") as f:
        ds = f.create_dataset("a", shape=(0, 2, 3), maxshape=(None, 2, 3), dtype=np.float16,
                              chunks=(1024, 2, 3), **codec.filters(compression, np.float16))
        out = sink.Sink(compression)
        for piece in np.split(data, cuts):
            out.next_part()
            out.extend(ds, piece, flush=True)
        out.close()
    with h5py.File(tmp_path / "x.h5", "r") as f:
        assert f["a"].shape == data.shape
        np.testing.assert_array_equal(f["a"][:], data)


def test_only_hdf5s_gzip_at_its_level_is_deflated_by_hand(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        def make(name, **filters):
            return f.create_dataset(name, shape=(10, 4), dtype=np.float16, chunks=(5, 4),
                                    **filters)

        assert sink._direct_gzip(make("gzip", **codec.filters(codec.GZIP, np.float16)))
        assert not sink._direct_gzip(make("level9", compression="gzip", compression_opts=9,
                                          shuffle=True))
        assert not sink._direct_gzip(make("noshuffle", compression="gzip",
                                          compression_opts=codec.GZIP_LEVEL))
        assert not sink._direct_gzip(make("lzf", **codec.filters(codec.LZF, np.float16)))
        assert not sink._direct_gzip(make("none"))
        half_rows = f.create_dataset("half", shape=(10, 4), dtype=np.float16, chunks=(5, 2),
                                     **codec.filters(codec.GZIP, np.float16))
        assert not sink._direct_gzip(half_rows)


def test_a_failed_background_write_is_raised(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        ds = f.create_dataset("a", shape=(0, 2), maxshape=(None, 2), dtype=np.float16,
                              chunks=(4, 2))
        out = sink.Sink(codec.NONE)
        out.extend(ds, np.zeros((3, 5), np.float16))  # rows of the wrong width
        with pytest.raises((TypeError, ValueError)):
            out.close()


@pytest.mark.parametrize("compression", [codec.GZIP, codec.ZSTD, codec.LZF])
@pytest.mark.parametrize("part_size", [1000, 37])
def test_a_store_written_with_the_sink_equals_one_without_compression(tmp_path, compression,
                                                                      part_size):
    """Every dataset (rows appended part by part, their chunks deflated here or by HDF5;
    strings and offsets continued across parts) reads back as in an uncompressed store."""
    plain = synth_store(tmp_path / "none.h5", 300, compression=codec.NONE, seed=3,
                        part_size=part_size)
    packed = synth_store(tmp_path / "packed.h5", 300, compression=compression, seed=3,
                         part_size=part_size)
    with h5py.File(plain, "r") as a, h5py.File(packed, "r") as b:
        names = []
        a.visititems(lambda name, node: names.append(name)
                     if isinstance(node, h5py.Dataset) else None)
        assert "attention/self" in names and len(names) > 20
        for name in names:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
        if compression != codec.LZF:  # LZF does not shrink float16 diagonals: kept unfiltered
            assert b["attention/self"].id.get_storage_size() < 0.9 * a["attention/self"].size * 2
    with Store(packed) as s:
        assert s.n_instances == 300


@pytest.mark.parametrize("precision", [16, 8])
def test_gzip_codes_self_attention_values_with_huffman_codes_alone(tmp_path, precision):
    """Single tokens' self-attention values (the layout's entropy_only) are deflated without
    LZ matching, every other dataset with it; both read back through HDF5's filter."""
    path = synth_store(tmp_path / "x.h5", 400, compression=codec.GZIP, seed=5,
                       precision=precision)
    with h5py.File(path, "r") as f:
        for name, huffman in (("attention/self", True), ("profiles/token/mean", True),
                              ("tokens/span", False), ("profiles/position/mean", False)):
            ds = f[name]
            assert L.BY_PATH["/" + name].entropy_only == huffman and sink._direct_gzip(ds)
            rows = ds[: ds.chunks[0]]
            rows = np.concatenate([rows, np.zeros((ds.chunks[0] - len(rows), *ds.shape[1:]),
                                                  ds.dtype)])
            stored = ds.id.read_direct_chunk((0,) * ds.ndim)[1]
            assert zlib.decompress(stored) == sink_unshuffled(rows, ds.dtype), name
            assert stored == sink.gzip_chunk(rows, huffman), name
            assert stored != sink.gzip_chunk(rows, not huffman), name


@pytest.mark.parametrize("precision", [16, 8])
def test_lzf_leaves_self_attention_values_unfiltered(tmp_path, precision):
    """LZF does not shrink them: a store of lzf keeps them as they are, the rest with lzf."""
    path = synth_store(tmp_path / "x.h5", 200, compression=codec.LZF, precision=precision)
    with h5py.File(path, "r") as f:
        assert f["attention/self"].compression is None
        assert f["profiles/token/mean"].compression is None
        assert f["attention/self"].dtype == (np.uint8 if precision == 8 else np.float16)
        for name in ("tokens/id", "tokens/span", "instances/text/data", "profiles/position/mean"):
            assert f[name].compression == "lzf", name


def test_a_store_whose_attention_cannot_be_written_is_not_left_behind(tmp_path, monkeypatch):
    def broken(values, huffman=False):
        raise OSError("disk full")

    monkeypatch.setattr(sink, "gzip_chunk", broken)
    out = tmp_path / "x.h5"
    with pytest.raises(OSError, match="disk full"):
        synth_store(out, 300, compression=codec.GZIP)
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no temporary file either


def test_the_writer_stops_its_threads(tmp_path):
    import threading

    before = {t.name for t in threading.enumerate()}
    synth_store(tmp_path / "x.h5", 50, compression=codec.GZIP)
    with pytest.raises(RuntimeError):
        with StoreWriter(tmp_path / "y.h5", Store(tmp_path / "x.h5").meta, ["[PAD]"]):
            raise RuntimeError("boom")
    left = {t.name for t in threading.enumerate()} - before
    assert not [n for n in left if n.startswith(("attviz-sink", "attviz-deflate"))]
