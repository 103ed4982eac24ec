"""The frozen format-1.1 store in tests/data is read by this attviz, with the right values.

Written by tests/data/make_store_v1_1.py (precompute with --entropy); the expected values
beside it come from the model run eagerly, not from the store.
"""

import json

import h5py
import numpy as np

from attviz.store import Store
from attviz.store.derive import group_keys
from tests.helpers.paths import ROOT
from tests.helpers.stores import check_indexed_search

DATA = ROOT / "tests" / "data"
STORE = DATA / "store-v1.1.h5"


def _expected():
    return json.loads((DATA / "store-v1.1.expected.json").read_text())


def test_v1_1_root_attributes_with_plain_h5py():
    with h5py.File(STORE, "r") as f:
        assert f.attrs["format"] == "attviz"
        assert f.attrs["format_version"] == "1.1"
        assert f["/profiles"].attrs["grouping"] == "cell"
        assert list(f["/instances/head_stats/entropy"].attrs["dims"]) == [
            "instances", "layers", "heads"]


def test_v1_1_values_and_statistics_match_the_model():
    exp = _expected()
    with Store(STORE) as s:
        assert s.meta.label_names == exp["label_names"]
        assert s.n_instances == len(exp["instances"])
        assert set(s.head_stat_names) == {"self_mean", "self_max", "self_argmax",
                                          "first_mass", "last_mass", "entropy"}
        stats = {n: s.read_head_stat(n) for n in s.head_stat_names}
        insts = s.read_instances(np.arange(s.n_instances))
        for k, (inst, want) in enumerate(zip(insts, exp["instances"])):
            assert inst.document_id == want["document_id"] and inst.segment == want["segment"]
            assert inst.tokens == want["tokens"]
            np.testing.assert_allclose(inst.attention, np.array(want["attention"]), atol=1e-3)
            np.testing.assert_allclose(inst.probabilities, want["probabilities"], atol=1e-5)
            for name, value in want["stats"].items():
                np.testing.assert_allclose(stats[name][k], value, atol=2e-3, rtol=2e-3,
                                           err_msg=f"{name} of instance {k}")


def test_v1_1_profiles_and_index_agree_with_its_rows():
    with Store(STORE) as s, h5py.File(STORE, "r") as f:
        start, ids = f["/instances/token_start"][:], f["/tokens/id"][:]
        att = f["/attention/self"][:].astype(np.float64)
        prof = s.profiles()
        groups = prof.group_of(group_keys(s.columns.label, s.columns.prediction, "cell"))
        assert (groups >= 0).all() and np.bincount(groups).tolist() == prof.count.tolist()
        for g in range(len(prof.count)):
            members = np.flatnonzero(groups == g)
            rows = np.concatenate([np.arange(start[k], start[k + 1]) for k in members])
            a, b = prof.token_start[g], prof.token_start[g + 1]
            assert prof.token_id[a:b].tolist() == sorted(set(ids[rows].tolist()))
            for e in range(a, b):
                sel = rows[ids[rows] == prof.token_id[e]]
                np.testing.assert_allclose(prof.token_sum[e], att[sel].sum(0), rtol=2e-3,
                                           atol=1e-6)
        for v in set(ids.tolist()):
            want = [k for k in range(s.n_instances) if v in ids[start[k] : start[k + 1]]]
            assert s.postings(v).tolist() == want


def test_v1_1_text_search_through_its_index():
    assert len(check_indexed_search(STORE, "CAFÉ")) == 1
