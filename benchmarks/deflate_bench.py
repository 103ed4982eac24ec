"""Deflate strategies for a store's datasets, as `--compression gzip` writes them: zlib-ng
and zlib at attviz's level (codec.GZIP_LEVEL) with LZ matching (the default strategy),
with Huffman codes alone (``Z_HUFFMAN_ONLY``) and with run lengths only (``Z_RLE``); and
what HDF5's LZF makes of the same chunks.

Takes the arrays of an existing store (the self-attention as float16 and as 8-bit codes,
the token and position profiles, token ids and spans, the texts), cuts each into the
store's own chunks (the same with every codec; the 8-bit codes as a store of
`--precision 8` chunks them), byte-shuffles the chunks of values wider than a byte as
HDF5's shuffle filter does, and deflates them in one thread: size ÷ raw and MB/s (best of
--repeats). Every stream decodes with zlib (checked).

    .venv/bin/python benchmarks/deflate_bench.py demo-data/bbc-heldout.h5 [--repeats 3]

Exits non-zero on errors only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
from zlib_ng import zlib_ng

from attviz.store import Store, codec
from attviz.store import layout as L
from attviz.store.sink import shuffled

DATASETS = {"attention float16": L.ATTENTION, "token profiles": L.TOKEN_MEAN,
            "position profiles": L.POSITION_MEAN, "token ids": L.TOKEN_ID,
            "token spans": L.TOKEN_SPAN, "texts": L.TEXT + "/data"}
STRATEGIES = {"default": zlib.Z_DEFAULT_STRATEGY, "huffman": zlib.Z_HUFFMAN_ONLY,
              "rle": zlib.Z_RLE}
LIBRARIES = {"zlib-ng": zlib_ng, "zlib": zlib}


def arrays(path: Path) -> dict[str, tuple[np.ndarray, int]]:
    """Each measured array of the store with its chunk rows."""
    with Store(path):  # registers hdf5plugin's filters
        pass
    out = {}
    with h5py.File(path, "r") as f:
        for name, where in DATASETS.items():
            out[name] = (f[where][...], f[where].chunks[0])  # chunks are the codec's own
    values = out["attention float16"][0]
    out["attention 8-bit"] = (codec.encode_log8(values),
                              L.attention_chunk_rows(*values.shape[1:], itemsize=1))
    return out


def chunks(values: np.ndarray, rows: int) -> list[bytes]:
    """``values`` cut into chunks of ``rows`` rows, each byte-shuffled as HDF5 does."""
    return [shuffled(values[a : a + rows]).tobytes() for a in range(0, len(values), rows)]


def deflate(lib, pieces: list[bytes], strategy: int) -> list[bytes]:
    out = []
    for piece in pieces:
        d = lib.compressobj(codec.GZIP_LEVEL, lib.DEFLATED, lib.MAX_WBITS, 8, strategy)
        out.append(d.compress(piece) + d.flush())
    return out


def lzf_ratio(values: np.ndarray, rows: int) -> float:
    """Size ÷ raw of ``values`` written by HDF5 with LZF (after a byte shuffle where wider
    than a byte), at ``rows`` rows a chunk."""
    with tempfile.TemporaryDirectory() as tmp, h5py.File(Path(tmp) / "x.h5", "w") as f:
        ds = f.create_dataset("x", data=values, chunks=(rows, *values.shape[1:]),
                              **codec.filters(codec.LZF, values.dtype))
        return ds.id.get_storage_size() / max(1, values.nbytes)


def measure(values: np.ndarray, rows: int, repeats: int) -> dict[str, dict]:
    pieces = chunks(values, rows)
    raw = sum(map(len, pieces))
    out: dict[str, dict] = {"lzf": {"ratio": round(lzf_ratio(values, rows), 4)}}
    for lib_name, lib in LIBRARIES.items():
        for name, strategy in STRATEGIES.items():
            best = float("inf")
            for _ in range(repeats):
                t = time.perf_counter()
                streams = deflate(lib, pieces, strategy)
                best = min(best, time.perf_counter() - t)
            if b"".join(zlib.decompress(s) for s in streams) != b"".join(pieces):
                raise SystemExit(f"{lib_name} {name}: the stream does not decode")
            out[f"{lib_name} {name}"] = {"ratio": round(sum(map(len, streams)) / raw, 4),
                                         "MB/s": round(raw / best / 1e6, 1)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {}
    for name, (values, rows) in arrays(args.store).items():
        results[name] = measure(values, rows, args.repeats)
        row = results[name]
        print(f"{name:18s} {values.nbytes / 1e6:7.2f} MB  lzf {row['lzf']['ratio']:.3f}  "
              + "  ".join(f"{k} {v['ratio']:.3f} ({v['MB/s']:.0f} MB/s)"
                          for k, v in row.items() if k != "lzf"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
