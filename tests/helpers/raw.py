"""Reading stores with h5py alone, independently of attviz's reader."""

from __future__ import annotations

import h5py
import hdf5plugin  # noqa: F401 - the stores' Blosc2 and Zstandard filters, as for any reader
import numpy as np


def counts(path):
    """(gold labels, predictions, token strings per instance) of a store file."""
    with h5py.File(path, "r") as f:
        label, pred = f["/instances/label"][:], f["/instances/prediction"][:]
        start = f["/instances/token_start"][:]
        ids = f["/tokens/id"][:]
        voff, vdata = f["/vocab/token/offsets"][:], f["/vocab/token/data"][:].tobytes()
    vocab = [vdata[voff[i]:voff[i + 1]].decode() for i in range(len(voff) - 1)]
    tokens = [[vocab[t] for t in ids[start[k]:start[k + 1]]] for k in range(len(label))]
    return label, pred, tokens


DATASETS = ("/attention/self", "/tokens/id", "/tokens/span", "/tokens/special",
            "/instances/token_start", "/instances/label", "/instances/prediction",
            "/instances/probabilities", "/instances/document", "/instances/segment",
            "/instances/text/data", "/instances/text/offsets", "/documents/id/data",
            "/documents/id/offsets", "/documents/row", "/vocab/token/data",
            "/vocab/token/offsets")


# what a complete store derives (summed in other orders by merges: equal up to rounding)
DERIVED = ("/instances/head_stats/self_mean", "/instances/head_stats/self_max",
           "/instances/head_stats/self_argmax", "/instances/head_stats/first_mass",
           "/instances/head_stats/last_mass", "/profiles/group/key", "/profiles/group/count",
           "/profiles/position/mean", "/profiles/position/count", "/profiles/token/group_start",
           "/profiles/token/id", "/profiles/token/mean", "/profiles/token/count",
           "/index/token/offsets", "/index/token/instances", "/tokenizer/json")


def assert_same_store(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in DATASETS:
            np.testing.assert_array_equal(fa[name][:], fb[name][:], err_msg=name)
        for name in DERIVED:
            np.testing.assert_allclose(fa[name][:], fb[name][:], rtol=1e-6, err_msg=name)
        for key in ("label_names", "num_layers", "num_heads", "job_key"):
            assert np.all(fa.attrs[key] == fb.attrs[key]), key


def damage_a_chunk(path, dataset: str = "/tokens/id") -> tuple[int, int]:
    """Overwrite one chunk of ``dataset`` in the middle of the file with garbage; the range of
    rows it held."""
    with h5py.File(path, "r") as f:
        ds = f[dataset]
        per_chunk = ds.chunks[0]
        chunks = -(-len(ds) // per_chunk)
        assert chunks >= 3, "a store with a first, a middle and a last chunk"
        middle = chunks // 2 * per_chunk
        info = ds.id.get_chunk_info_by_coord((middle,))
        rows = (middle, middle + per_chunk)
        assert ds.chunks is not None
    with open(path, "r+b") as f:
        f.seek(info.byte_offset)
        f.write(bytes([0xA5]) * info.size)
    return rows


def damaged_and_next(path) -> tuple[int, int]:
    """Damage a chunk of token ids in the middle of ``path``: the last instance that needs it,
    and the next one, which does not."""
    with h5py.File(path, "r") as f:
        start = f["/instances/token_start"][:]
    lo, hi = damage_a_chunk(path)
    inside = int(np.searchsorted(start, hi - 1, side="right") - 1)
    assert start[inside] < hi <= start[inside + 1] and lo > 0
    return inside, inside + 1


def instance_columns(path) -> dict:
    """Per-instance columns straight from the file."""
    with h5py.File(path, "r") as f:
        start = f["/instances/token_start"][:]
        probs = f["/instances/probabilities"][:]
        return {
            "label": f["/instances/label"][:], "prediction": f["/instances/prediction"][:],
            "confidence": probs.max(axis=1), "tokens": np.diff(start), "start": start,
            "names": [x.decode() if isinstance(x, bytes) else x for x in f.attrs["label_names"]],
        }
