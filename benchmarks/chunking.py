"""Chunk shape and compression of /attention/self: file size and read times.

Copies the attention of a real store into variants and measures, per variant: bytes per
token, random single-instance reads (the app's access pattern; a fresh file handle per
read so HDF5's chunk cache does not help), and a sequential read of everything (merges).

    .venv/bin/python benchmarks/chunking.py demo-data/bbc-heldout.h5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import h5py
import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--reads", type=int, default=300)
    args = ap.parse_args()
    with h5py.File(args.store, "r") as f:
        att = f["/attention/self"][:]
        starts = f["/instances/token_start"][:]
    n_inst = len(starts) - 1
    tokens, layers, heads = att.shape
    print(f"source: {args.store}: {n_inst} instances, "
          f"{tokens} tokens x {layers} layers x {heads} heads")
    rng = np.random.default_rng(0)
    picks = rng.integers(0, n_inst, size=args.reads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk_rows in (256, 1024, 4096):
            for comp, opts in (("none", None), ("lzf", None), ("gzip", 4)):
                path = os.path.join(tmp, f"a-{chunk_rows}-{comp}.h5")
                t = time.perf_counter()
                with h5py.File(path, "w") as f:
                    f.create_dataset("a", data=att, chunks=(chunk_rows, layers, heads),
                                     compression=None if comp == "none" else comp,
                                     compression_opts=opts)
                write_s = time.perf_counter() - t
                size = os.path.getsize(path)
                lat = []
                for k in picks:
                    t = time.perf_counter()
                    with h5py.File(path, "r") as f:
                        f["a"][starts[k] : starts[k + 1]]
                    lat.append(time.perf_counter() - t)
                t = time.perf_counter()
                with h5py.File(path, "r") as f:
                    f["a"][:]
                seq_s = time.perf_counter() - t
                rows.append((chunk_rows, chunk_rows * layers * heads * 2 // 1024, comp,
                             size / tokens / (layers * heads * 2), 1e3 * np.median(lat),
                             1e3 * np.percentile(lat, 95), tokens / write_s / 1e6,
                             tokens / seq_s / 1e6))
    print("| chunk rows | chunk KiB | compression | bytes/token ÷ (L·H·2) "
          "| instance read median ms | p95 ms | write Mtok/s | sequential read Mtok/s |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.2f} "
              f"| {r[6]:.2f} | {r[7]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
