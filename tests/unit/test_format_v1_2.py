"""The frozen format-1.2 store in tests/data is read by this attviz, with the right values.

Written by tests/data/make_store_v1_2.py: a 3-layer model precomputed with ``--layers 0,2
--precision 8 --entropy`` and the default compression; the expected values beside it come
from the model run eagerly (every layer), not from the store.
"""

import json
import math

import h5py
import hdf5plugin  # noqa: F401 - a plain h5py reader of Blosc2 / Zstandard datasets
import numpy as np

from attviz.store import Store
from tests.helpers.paths import ROOT
from tests.helpers.stores import check_indexed_search

DATA = ROOT / "tests" / "data"
STORE = DATA / "store-v1.2.h5"


def _expected():
    return json.loads((DATA / "store-v1.2.expected.json").read_text())


def _decode(codes: np.ndarray) -> np.ndarray:
    """The log8 code as docs/format.md defines it, written out here independently."""
    step = math.log(1e6) / 255
    v = 1e-6 * np.exp((codes.astype(np.float64) - 0.5) * step)
    return np.where(codes == 0, 0.0, v)


def test_v1_2_layout_with_plain_h5py():
    with h5py.File(STORE, "r") as f:
        assert f.attrs["format"] == "attviz" and f.attrs["format_version"] == "1.2"
        assert f.attrs["num_layers"] == 3 and list(f.attrs["stored_layers"]) == [0, 2]
        att = f["/attention/self"]
        assert att.dtype == np.uint8 and att.shape[1:] == (2, 2)
        assert att.attrs["encoding-type"] == "log8"
        assert list(att.attrs["dims"]) == ["tokens", "stored_layers", "heads"]
        assert f["/instances/head_stats/entropy"].shape[1:] == (3, 2)
        assert f["/profiles/position/mean"].attrs["encoding-type"] == "log8"


def test_v1_2_values_match_the_model_within_the_code():
    exp = _expected()
    with Store(STORE) as s, h5py.File(STORE, "r") as f:
        assert s.meta.layers == exp["stored_layers"] and s.precision == 8
        start, raw = f["/instances/token_start"][:], f["/attention/self"][:]
        insts = s.read_instances(np.arange(s.n_instances))
        stats = {n: s.read_head_stat(n) for n in s.head_stat_names}
        assert len(insts) == len(exp["instances"])
        for k, (inst, want) in enumerate(zip(insts, exp["instances"])):
            assert inst.tokens == want["tokens"] and inst.layers == (0, 2)
            every = np.array(want["attention"])  # [tokens, 3 layers, heads]
            eager = every[:, [0, 2]]
            # the reader's values are the code's, and within its bound of the model's
            np.testing.assert_allclose(inst.attention, _decode(raw[start[k]:start[k + 1]]),
                                       rtol=1e-6)
            big = eager >= 1e-6
            err = np.abs(inst.attention - eager)
            assert np.all(err[big] <= 0.03 * eager[big]) and np.all(err[~big] <= 1e-6)
            np.testing.assert_allclose(inst.probabilities, want["probabilities"], atol=1e-5)
            for name, value in want["stats"].items():  # every layer, from float16 diagonals
                np.testing.assert_allclose(stats[name][k], value, atol=2e-3, rtol=2e-3,
                                           err_msg=f"{name} of instance {k}")


def test_v1_2_profiles_cover_every_layer():
    exp = _expected()
    with Store(STORE) as s:
        prof = s.profiles()
        assert prof.position_sum.shape[2:] == (3, 2) and prof.token_sum.shape[1:] == (3, 2)
        # the position profile of position 1 over the whole store, against the model
        want = np.mean([np.array(i["attention"])[1] for i in exp["instances"]
                        if len(i["tokens"]) > 1], axis=0)
        got = prof.position_sum[:, 1].sum(0) / prof.position_count[:, 1].sum()
        np.testing.assert_allclose(got, want, rtol=0.03, atol=1e-6)


def test_v1_2_text_search_through_its_index():
    assert len(check_indexed_search(STORE, "CAFÉ")) == 1
