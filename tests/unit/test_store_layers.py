"""Stores of some layers and of 8-bit values (format 1.2) through the store's readers:
a store file, a folder of shards, merges and `attviz index`."""

import h5py
import numpy as np
import pytest

from attviz.store import ShardedStore, Store, StoreError, codec, merge, shard_name
from attviz.store import index as index_store
from attviz.store.synth import synthesize

KW = dict(layers=4, heads=3, classes=3, max_tokens=40, part_size=150, progress=False)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The same synthetic instances: every layer in float16, and layers 1 and 3 in 8 bits."""
    d = tmp_path_factory.mktemp("layers")
    full = synthesize(d / "full.h5", 600, **KW)
    some = synthesize(d / "some.h5", 600, stored_layers=[1, 3], precision=8, **KW)
    return full, some


def _relative_ok(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    big = want >= 1e-6
    return (np.all(np.abs(got - want)[big] <= codec.RELATIVE_ERROR * 1.0001 * want[big])
            and np.all(np.abs(got - want)[~big] <= 1e-6))


def test_plain_h5py_sees_the_layers_and_the_code(stores):
    _, some = stores
    with h5py.File(some, "r") as f:
        assert list(f.attrs["stored_layers"]) == [1, 3] and f.attrs["num_layers"] == 4
        att = f["/attention/self"]
        assert att.dtype == np.uint8 and att.shape[1:] == (2, 3)
        assert att.attrs["encoding-type"] == "log8" and att.attrs["encoding-version"] == "1.0"
        assert list(att.attrs["dims"]) == ["tokens", "stored_layers", "heads"]
        assert f["/instances/head_stats/self_mean"].shape[1:] == (4, 3)
        assert f["/profiles/token/mean"].dtype == np.uint8
        assert f["/profiles/position/mean"].shape[2:] == (4, 3)


def test_reader_decodes_the_stored_layers(stores):
    full, some = stores
    with Store(full) as a, Store(some) as b:
        assert b.meta.layers == [1, 3] and not b.meta.all_layers and b.precision == 8
        assert a.meta.layers == [0, 1, 2, 3] and a.precision == 16
        for x, y in zip(a.read_instances([0, 1, 77, 599]), b.read_instances([0, 1, 77, 599])):
            assert y.layers == (1, 3) and y.attention.dtype == np.float32
            assert _relative_ok(y.attention, x.attention[:, [1, 3]])
            assert y.layer_index(3) == 1
            with pytest.raises(KeyError, match="layer 2 is not stored"):
                y.layer_index(2)
        _, _, att = b.read_tokens([3, 9])
        assert att.dtype == np.float32 and att.shape[1:] == (2, 3)
        # statistics and profiles cover every layer, made from the full values
        for name in a.head_stat_names:
            np.testing.assert_array_equal(a.read_head_stat(name), b.read_head_stat(name))
        pa, pb = a.profiles(), b.profiles()
        np.testing.assert_array_equal(pa.token_count, pb.token_count)
        assert pb.position_sum.shape == pa.position_sum.shape
        assert _relative_ok(pb.token_sum / pb.token_count[:, None, None],
                            pa.token_sum / pa.token_count[:, None, None])


def test_merge_and_index_keep_codes_statistics_and_profiles(stores, tmp_path):
    _, some = stores
    out = merge([some], tmp_path / "m.h5")
    copy = tmp_path / "i.h5"
    copy.write_bytes(some.read_bytes())
    index_store(copy)
    for other in (out, copy):
        with h5py.File(some, "r") as a, h5py.File(other, "r") as b:
            assert list(b.attrs["stored_layers"]) == [1, 3]
            for path in ("/attention/self", "/instances/head_stats/self_max",
                         "/profiles/token/mean", "/profiles/position/mean"):
                np.testing.assert_array_equal(a[path][:], b[path][:], err_msg=path)


def test_a_folder_of_shards_of_some_layers(stores, tmp_path):
    _, some = stores
    folder = tmp_path / "shards"
    folder.mkdir()
    for i in range(2):
        synthesize(folder / shard_name(i, 2), 200, stored_layers=[1, 3], precision=8,
                   seed=i, **KW)
    with ShardedStore(folder) as s:
        assert s.meta.layers == [1, 3] and s.precision == 8
        assert s.read_instance(250).layers == (1, 3)
        assert s.profiles().position_sum.shape[2:] == (4, 3)
    merged = merge([folder], tmp_path / "merged.h5")
    with Store(merged) as m, ShardedStore(folder) as s:
        np.testing.assert_array_equal(m.profiles().token_count, s.profiles().token_count)


def test_stores_of_other_layers_do_not_merge(stores, tmp_path):
    full, some = stores
    with pytest.raises(StoreError, match=r"stored layers \[1, 3\] != \[0, 1, 2, 3\]"):
        merge([some, full], tmp_path / "x.h5")
