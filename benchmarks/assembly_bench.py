"""The last step of a precompute, alone: joining the block files into the complete store
(`attviz.store.assemble`: the statistics, profiles and token index derived, every dataset
compressed), for each codec and precision, on the blocks of 512 BBC passages with the
fine-tuned MiniLM (the instances of benchmarks/store_bench.py).

The model runs once (`--compression none`); its store is cut into --blocks block files of
each precision as the precompute writes them (`partial.write_block`), and each (precision,
codec) assembly is timed --repeats times, the settings taking turns; median and best.

    .venv/bin/python benchmarks/assembly_bench.py --model demo-data/bbc-model \
        --data demo-data/bbc-model/heldout.csv [--repeats 7] [--blocks 2] [--json out.json]

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from precompute_bench import BBC  # benchmarks/ is on sys.path
from store_bench import passages

from attviz.store import Store, assemble, codec

PRECISIONS = (16, 8)


def source_store(tmp: Path, model: Path, data: Path) -> Path:
    """The passages' store, uncompressed, written by the precompute."""
    from transformers import AutoTokenizer

    from attviz.precompute.job import PrecomputeConfig, run

    corpus = passages(tmp, AutoTokenizer.from_pretrained(model), data=data)
    out = tmp / "source.h5"
    run(PrecomputeConfig(model=str(model), data=str(corpus), out=str(out),
                         label_column="category", id_column="id", compression=codec.NONE),
        progress=False)
    return out


def cut(src: Store, folder: Path, blocks: int, precision: int) -> list[Path]:
    """``src``'s instances as ``blocks`` block files of ``precision``."""
    from attviz.precompute.partial import write_block

    edges = np.linspace(0, src.n_instances, blocks + 1).astype(int)
    paths = []
    for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        path = folder / f"p{precision}-block-{i:06d}.h5"
        write_block(path, src.meta, src.read_part(int(a), int(b)), precision)
        paths.append(path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a sequence classifier's folder")
    ap.add_argument("--data", type=Path, default=BBC,
                    help="CSV with id, text and category columns (default: the BBC corpus)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    res: dict = {"assemble_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Store(source_store(tmp, args.model, args.data)) as src:
            res.update(instances=src.n_instances, tokens=src.n_tokens, blocks=args.blocks)
            fragments = {p: cut(src, tmp, args.blocks, p) for p in PRECISIONS}
            meta, vocab, tok = src.meta, src.vocab, src.tokenizer_json()
        times: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            for p in PRECISIONS:
                for c in codec.COMPRESSIONS:
                    t = time.perf_counter()
                    assemble(fragments[p], tmp / "out.h5", meta, vocab, tokenizer_json=tok,
                             precision=p, compression=c)
                    times.setdefault(f"{p}-bit / {c}", []).append(time.perf_counter() - t)
        for key, values in times.items():
            res["assemble_s"][key] = {"median": statistics.median(values), "best": min(values)}
            print(f"{key:14s} median {statistics.median(values):.3f} s, best {min(values):.3f} s")
    res["load_average"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
