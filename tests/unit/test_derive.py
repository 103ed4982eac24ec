"""What a complete store derives from its rows (statistics, profiles, token index), checked
against brute force over the per-token data read back with h5py."""

import h5py
import numpy as np
import pytest

from attviz.store import FORMAT_VERSION, Store, merge
from attviz.store import layout as L
from attviz.store.derive import group_keys, grouping_for, self_statistics
from tests.helpers.stores import split_into_shards, synth_store


def _strings(f, group):
    off, data = f[group + "/offsets"][:], f[group + "/data"][:].tobytes()
    return [data[off[k] : off[k + 1]].decode() for k in range(len(off) - 1)]


def _per_instance(path):
    """Per instance: token ids, attention [tokens, layers, heads] float64, special flags."""
    with h5py.File(path, "r") as f:
        start = f[L.TOKEN_START][:]
        att = f[L.ATTENTION][:].astype(np.float64)
        ids = f[L.TOKEN_ID][:]
        special = f[L.TOKEN_SPECIAL][:]
        return [(ids[a:b], att[a:b], special[a:b]) for a, b in zip(start[:-1], start[1:])], f


@pytest.fixture(scope="module")
def synth(make_synth):
    return make_synth(900, layers=2, heads=3, classes=3, max_tokens=30, part_size=250)


def test_self_statistics_match_brute_force(synth):
    rows, _ = _per_instance(synth)
    with h5py.File(synth, "r") as f:
        got = {n: f[f"{L.HEAD_STATS}/{n}"][:] for n in L.SELF_STAT_NAMES}
        assert f[L.SELF_MEAN].chunks[1:] == (1, 3)  # one layer's heads: a column reads little
    for k, (_, att, special) in enumerate(rows):
        use = ~special if (~special).any() else np.ones_like(special)
        vals = att[use]
        np.testing.assert_allclose(got["self_mean"][k], vals.mean(0), rtol=1e-3, atol=1e-4)
        np.testing.assert_array_equal(got["self_max"][k], vals.max(0).astype(np.float16))
        pos = np.flatnonzero(use)
        np.testing.assert_array_equal(got["self_argmax"][k], pos[vals.argmax(0)])


def test_self_statistics_of_an_instance_with_only_special_tokens():
    att = np.array([[[0.5]], [[0.25]], [[0.75]], [[0.1]]], np.float16)
    special = np.array([True, True, False, True])
    stats = self_statistics(att, special, np.array([2, 2]))
    assert stats["self_mean"][:, 0, 0].tolist() == [0.375, 0.75]  # all tokens; the plain one
    assert stats["self_argmax"][:, 0, 0].tolist() == [0, 0]


def test_profiles_match_brute_force(synth):
    rows, _ = _per_instance(synth)
    with h5py.File(synth, "r") as f:
        label, pred = f[L.LABEL][:], f[L.PREDICTION][:]
        keys = [tuple(k) for k in f[L.GROUP_KEY][:]]
        assert f["/profiles"].attrs["grouping"] == "cell"
        assert keys == sorted(set(zip(label.tolist(), pred.tolist())))
        count = f[L.GROUP_COUNT][:]
        pos_mean, pos_count = f[L.POSITION_MEAN][:], f[L.POSITION_COUNT][:]
        gstart, tid = f[L.TOKEN_GROUP_START][:], f[L.TOKEN_PROFILE_ID][:]
        tmean, tcount = f[L.TOKEN_MEAN][:], f[L.TOKEN_COUNT][:]
        head = f[f"{L.GROUP_HEAD_SUM}/self_max"][:]
        self_max = f[L.SELF_MAX][:].astype(np.float64)
    for g, key in enumerate(keys):
        members = np.flatnonzero((label == key[0]) & (pred == key[1]))
        assert count[g] == len(members)
        np.testing.assert_allclose(head[g], self_max[members].sum(0))
        want_pos = np.zeros(pos_mean[g].shape)
        want_pc = np.zeros(pos_count.shape[1], np.int64)
        by_id: dict[int, list] = {}
        for k in members:
            ids, att, _ = rows[k]
            want_pos[: len(ids)] += att
            want_pc[: len(ids)] += 1
            for i, t in enumerate(ids.tolist()):
                by_id.setdefault(t, []).append(att[i])
        seen = want_pc > 0
        # means in float16, the precision of the stored diagonals
        np.testing.assert_allclose(pos_mean[g][seen], (want_pos[seen] / want_pc[seen, None, None])
                                   .astype(np.float16), rtol=1e-3, atol=1e-5)
        np.testing.assert_array_equal(pos_count[g], want_pc)
        a, b = gstart[g], gstart[g + 1]
        assert tid[a:b].tolist() == sorted(by_id)
        for e in range(a, b):
            vals = np.array(by_id[int(tid[e])])
            assert tcount[e] == len(vals)
            np.testing.assert_allclose(tmean[e], vals.mean(0).astype(np.float16), rtol=1e-3,
                                       atol=1e-5)


def test_token_index_matches_brute_force(synth):
    rows, _ = _per_instance(synth)
    with h5py.File(synth, "r") as f:
        offsets, postings = f[L.INDEX_OFFSETS][:], f[L.INDEX_INSTANCES][:]
        vocab = len(_strings(f, L.VOCAB_TOKEN))
    assert len(offsets) == vocab + 1 and postings.dtype == np.uint32
    want: dict[int, list] = {}
    for k, (ids, _, _) in enumerate(rows):
        for t in sorted(set(ids.tolist())):
            want.setdefault(t, []).append(k)
    for v in range(vocab):
        assert postings[offsets[v] : offsets[v + 1]].tolist() == want.get(v, [])


def test_occurrences_match_brute_force(synth):
    with h5py.File(synth, "r") as f:
        offsets, rows = f[L.INDEX_OCCURRENCE_OFFSETS][:], f[L.INDEX_OCCURRENCES][:]
        ids, vocab = f[L.TOKEN_ID][:], len(_strings(f, L.VOCAB_TOKEN))
        assert list(f[L.INDEX_OCCURRENCES].attrs["dims"]) == ["occurrences"]
    assert len(offsets) == vocab + 1 and rows.dtype == np.uint32 and len(rows) == len(ids)
    for v in range(vocab):
        assert rows[offsets[v] : offsets[v + 1]].tolist() == np.flatnonzero(ids == v).tolist()


def test_occurrences_are_the_same_in_any_pieces():
    """Ranges of ids gathered one pass at a time (any budget, any step of token ids) give
    the same occurrences; ids outside the vocabulary are left out; an id may outgrow the
    budget alone."""
    from attviz.store.derive import occurrence_index

    rng = np.random.default_rng(3)
    ids = np.concatenate([rng.integers(-1, 40, 5000), np.full(300, 7), [40, 41]])
    rng.shuffle(ids)
    want = [np.flatnonzero(ids == v) for v in range(40)]
    for budget, step in ((1 << 25, 1 << 22), (100, 64), (1, 999), (5000, 1)):
        offsets, pieces = occurrence_index(lambda a, b: ids[a:b], len(ids), 40, budget, step)
        got = np.full(int(offsets[-1]), -1)
        for start, rows in pieces:
            assert len(rows) <= max(budget, max(len(w) for w in want))
            got[start : start + len(rows)] = rows
        for v in range(40):
            assert got[offsets[v] : offsets[v + 1]].tolist() == want[v].tolist()
    offsets, pieces = occurrence_index(lambda a, b: ids[a:b], 0, 40)
    assert offsets.tolist() == [0] * 41 and [len(r) for _, r in pieces] == [0]


def test_many_classes_group_by_correctness():
    assert grouping_for(20) == "cell" and grouping_for(21) == "correctness"
    keys = group_keys(np.array([3, 3, -1, 0]), np.array([3, 1, 4, 0]), "correctness")
    assert keys.tolist() == [[3, 1], [3, 0], [-1, 4], [0, 1]]


def test_merged_and_reshard_stores_derive_the_same(synth, tmp_path):
    """Shards written part by part and merged again give the same derived data."""
    folder = split_into_shards(synth, tmp_path / "shards", 300, [1], provenance=False)
    merged = merge([folder], tmp_path / "merged.h5")
    derived = [d.path for d in L.LAYOUT if d.combine == L.DERIVED and "<" not in d.path]
    derived += [f"{L.GROUP_HEAD_SUM}/{n}" for n in L.SELF_STAT_NAMES]
    derived += [f"{L.HEAD_STATS}/{n}" for n in L.SELF_STAT_NAMES]
    with h5py.File(synth, "r") as a, h5py.File(merged, "r") as b:
        for path in derived:
            np.testing.assert_allclose(a[path][:], b[path][:], rtol=1e-6, err_msg=path)


def test_token_index_is_the_same_in_small_steps(synth):
    """The index is built in steps of instances; any step gives the same postings."""
    from attviz.store.derive import token_index

    with h5py.File(synth, "r") as f:
        ids, start = f[L.TOKEN_ID][:], f[L.TOKEN_START][:]
        want = f[L.INDEX_OFFSETS][:], f[L.INDEX_INSTANCES][:]
    for step in (1, 7, 256):
        offsets, postings = token_index(lambda a, b: ids[a:b], start, len(want[0]) - 1, step)
        np.testing.assert_array_equal(offsets, want[0])
        np.testing.assert_array_equal(postings, want[1])


def test_a_folder_of_shards_reads_as_the_merged_store(synth, tmp_path):
    """Profiles, index and statistics of a folder of shards, combined on reading, equal
    those of the single store."""
    from attviz.store import open_store

    folder = split_into_shards(synth, tmp_path / "shards", 200, [2, 3], provenance=False)
    with open_store(folder) as sharded, Store(synth) as single:
        a, b = sharded.profiles(), single.profiles()
        for name in ("key", "count", "position_count", "token_start", "token_id",
                     "token_count"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        for name in ("position_sum", "token_sum"):  # from float16 means
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=2e-3,
                                       atol=1e-6, err_msg=name)
        assert set(a.head_sums) == set(b.head_sums) >= set(L.SELF_STAT_NAMES)
        for name in a.head_sums:
            np.testing.assert_allclose(a.head_sums[name], b.head_sums[name])
        for v in range(0, len(single.vocab), 97):
            np.testing.assert_array_equal(sharded.postings(v), single.postings(v))
        np.testing.assert_array_equal(sharded.read_head_stat("self_mean", 1, 2),
                                      single.read_head_stat("self_mean", 1, 2))
        keys = group_keys(single.columns.label, single.columns.prediction, "cell")
        g = b.group_of(keys)
        assert (g >= 0).all() and (np.bincount(g) == b.count).all()


def test_index_command_gives_an_older_store_what_a_new_one_has(tmp_path):
    """`attviz index` on the frozen 1.0 store: the same store with statistics, profiles and
    index, equal to brute force; the rows are unchanged."""
    import shutil

    from attviz.cli import main
    from tests.helpers.paths import ROOT

    path = tmp_path / "old.h5"
    shutil.copy(ROOT / "tests" / "data" / "store-v1.0.h5", path)
    assert main(["index", str(path), "--no-progress"]) == 0
    with h5py.File(ROOT / "tests" / "data" / "store-v1.0.h5", "r") as a, \
            h5py.File(path, "r") as b:
        assert b.attrs["format_version"] == FORMAT_VERSION and b.attrs["indexed_by"]
        for name in (L.ATTENTION, L.TOKEN_ID, L.LABEL, L.PROBABILITIES, L.TEXT + "/data"):
            np.testing.assert_array_equal(a[name][:], b[name][:])
    rows, _ = _per_instance(path)
    with h5py.File(path, "r") as f:
        means = f[L.SELF_MEAN][:]
        assert L.FIRST_MASS not in f  # needs the model: only from a precompute
    for k, (_, att, special) in enumerate(rows):
        use = ~special if (~special).any() else np.ones_like(special)
        np.testing.assert_allclose(means[k], att[use].mean(0), rtol=1e-3, atol=1e-4)


def test_a_stopped_index_run_leaves_the_store_as_it_was(tmp_path):
    """SIGKILL while the new file is being written: the store is byte for byte the same."""
    import hashlib
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "big.h5"
    synth_store(path, 20000, layers=4, heads=6, classes=3, max_tokens=64)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = subprocess.Popen([sys.executable, "-m", "attviz.cli", "index", str(path),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    temp = []
    while time.time() < deadline and proc.poll() is None:
        temp = [p for p in tmp_path.glob(".big.h5.*.tmp") if p.stat().st_size > (4 << 20)]
        if temp:
            break
        time.sleep(0.01)
    assert temp and proc.poll() is None, "the run ended before it could be stopped"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with Store(path) as s:
        assert s.n_instances == 20000
    # the next run removes what the stopped one left, and completes
    from attviz.cli import main

    assert main(["index", str(path), "--no-progress"]) == 0
    assert not list(tmp_path.glob(".big.h5.*.tmp"))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_sums_by_key_are_the_same_with_and_without_torch(dtype, monkeypatch):
    """``sum_by`` adds rows with torch's index_add_ where torch is loaded, else by sorting;
    both equal a plain loop, over several blocks of rows, keys repeated and unsorted."""
    import sys

    from attviz.store import derive

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    monkeypatch.setattr(derive, "BLOCK_TOKENS", 700)
    keys = rng.integers(0, 40, 2500)
    values = rng.random((2500, 2, 3)).astype(dtype)
    want = np.zeros((45, 2, 3))
    for k, v in zip(keys, values.astype(np.float64)):
        want[k] += v
    got = {}
    for name, loaded in (("torch", torch), ("numpy", None)):
        monkeypatch.setitem(sys.modules, "torch", loaded)
        out = np.ones((45, 2, 3))  # added to, not overwritten
        derive.sum_by(keys, values, out)
        got[name] = out - 1
    monkeypatch.setitem(sys.modules, "torch", torch)
    exact = dtype == np.float16  # float16 sums in float64 round nothing
    for name, out in got.items():
        np.testing.assert_allclose(out, want, rtol=0 if exact else 1e-12, atol=0,
                                   err_msg=name)
