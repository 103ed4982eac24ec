"""HDF5 filters for a store's datasets: HDF5's own (LZF, gzip with and without byte
shuffle) against Blosc2 and Zstandard (hdf5plugin) with byte or bit shuffle.

Takes the arrays of an existing store (the self-attention as float16 and as 8-bit codes,
the texts, the token profiles, the tokenizer, token ids and spans, a statistic), writes
each with each filter at the store's chunking into a file of its own, and measures the
size on disk against the raw bytes, the write speed, the speed of reading it all, and for
the self-attention the median time to read one instance's rows (128 tokens) with a fresh
file handle. Best of --repeats for the speeds.

    .venv/bin/python benchmarks/codec_bench.py STORE.h5

Exits non-zero on errors only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

B2 = hdf5plugin.Blosc2
FILTERS = {
    "none": {},
    "lzf": dict(compression="lzf"),
    "lzf + shuffle": dict(compression="lzf", shuffle=True),
    "gzip-4 + shuffle": dict(compression="gzip", compression_opts=4, shuffle=True),
    "zstd-1": dict(hdf5plugin.Zstd(clevel=1)),
    "zstd-1 + shuffle": dict(hdf5plugin.Zstd(clevel=1), shuffle=True),
    "zstd-9 + shuffle": dict(hdf5plugin.Zstd(clevel=9), shuffle=True),
    "blosc2 zstd-1 + shuffle": dict(B2(cname="zstd", clevel=1, filters=B2.SHUFFLE)),
    "blosc2 zstd-5 + shuffle": dict(B2(cname="zstd", clevel=5, filters=B2.SHUFFLE)),
    "blosc2 zstd-5 + bitshuffle": dict(B2(cname="zstd", clevel=5, filters=B2.BITSHUFFLE)),
    "blosc2 lz4-5 + shuffle": dict(B2(cname="lz4", clevel=5, filters=B2.SHUFFLE)),
    "blosc2 lz4-5 + bitshuffle": dict(B2(cname="lz4", clevel=5, filters=B2.BITSHUFFLE)),
}


def arrays(store: str) -> dict[str, tuple[np.ndarray, tuple]]:
    from attviz.store import codec
    from attviz.store.layout import attention_chunk_rows

    with h5py.File(store, "r") as f:
        att = f["/attention/self"][:]
        if att.dtype == np.uint8:
            raise SystemExit("give a store of --precision 16 (the codes are made from it)")
        lh = att.shape[1:]
        out = {"attention float16": (att, (attention_chunk_rows(*lh), *lh)),
               "attention 8-bit": (codec.encode_log8(att.astype(np.float32)),
                                   (attention_chunk_rows(*lh, 1), *lh)),
               "texts": (f["/instances/text/data"][:], (1 << 15,)),
               "token ids": (f["/tokens/id"][:], (65536,)),
               "token spans": (f["/tokens/span"][:], (32768, 2)),
               "tokenizer.json": (f["/tokenizer/json"][:], (1 << 18,))}
        if "/profiles/token/mean" in f:
            mean = f["/profiles/token/mean"][:]
            out["token profiles (float16)"] = (mean, (max(1, (256 << 10) // mean[:1].nbytes),
                                                      *mean.shape[1:]))
        if "/instances/head_stats/self_mean" in f:
            st = f["/instances/head_stats/self_mean"][:]
            out["a statistic per head"] = (st, (1024, 1, st.shape[2]))
    return out


def one(path: Path, data: np.ndarray, chunks: tuple, kw: dict, repeats: int) -> dict:
    chunks = tuple(min(c, s) for c, s in zip(chunks, data.shape))
    writes, reads = [], []
    for _ in range(repeats):
        with h5py.File(path, "w") as f:
            t = time.perf_counter()
            f.create_dataset("x", data=data, chunks=chunks, **kw)
            f.flush()
            writes.append(time.perf_counter() - t)
    for _ in range(repeats):
        with h5py.File(path, "r") as f:
            t = time.perf_counter()
            f["x"][:]
            reads.append(time.perf_counter() - t)
    with h5py.File(path, "r") as f:
        size = f["x"].id.get_storage_size()
    res = {"ratio": size / data.nbytes, "write_mb_s": data.nbytes / min(writes) / 1e6,
           "read_mb_s": data.nbytes / min(reads) / 1e6}
    if data.ndim == 3 and data.shape[1] * data.shape[2] > 1:  # per-token: one instance's rows
        rng = np.random.default_rng(0)
        times = []
        for a in rng.integers(0, max(1, len(data) - 128), size=60):
            with h5py.File(path, "r") as f:
                t = time.perf_counter()
                f["x"][a : a + 128]
                times.append(time.perf_counter() - t)
        res["instance_read_ms"] = 1000 * float(np.median(times))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (data, chunks) in arrays(args.store).items():
            res[name] = {}
            for filt, kw in FILTERS.items():
                res[name][filt] = one(Path(tmp) / "x.h5", data, chunks, kw, args.repeats)
    for name, rows in res.items():
        print(f"\n{name}\n| filter | size ÷ raw | write MB/s | read MB/s | one instance ms |")
        print("|---|---:|---:|---:|---:|")
        for filt, r in rows.items():
            inst = f"{r['instance_read_ms']:.2f}" if "instance_read_ms" in r else ""
            print(f"| {filt} | {r['ratio']:.3f} | {r['write_mb_s']:.0f} | {r['read_mb_s']:.0f} "
                  f"| {inst} |")
    res["load_average"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
