"""Where a precompute's time goes: `attviz.precompute.job.run` on the 512 BBC passages of
benchmarks/store_bench.py with timers around its steps (tokenising, the forward passes
with the extraction, the block files, the assembly), next to the bare loop of SDPA
forward passes over the same batches, for the settings given as CODEC:PRECISION,
alternating, --rounds times.

    .venv/bin/python benchmarks/run_breakdown.py --model demo-data/bbc-model \
        --data demo-data/bbc-model/heldout.csv zstd:16 zstd:8 gzip:16 lzf:16 none:16

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import collections
import functools
import tempfile
import time
from pathlib import Path

from precompute_bench import BBC, batches, time_floor  # benchmarks/ is on sys.path
from store_bench import passages


def timed(owner, name: str, totals: dict, label: str | None = None) -> None:
    """Replace ``owner.name`` by a wrapper that adds its time to ``totals[label]``."""
    inner = getattr(owner, name)

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[label or name] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("settings", nargs="+", help="CODEC:PRECISION, e.g. zstd:16")
    ap.add_argument("--model", type=Path, required=True, help="a sequence classifier's folder")
    ap.add_argument("--data", type=Path, default=BBC)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attviz.precompute import job, pipeline
    from attviz.precompute.job import PrecomputeConfig, run

    totals: dict[str, float] = collections.defaultdict(float)
    timed(pipeline, "compute_block", totals, "forward passes and extraction")
    timed(pipeline, "write_block", totals, "block files")
    timed(job, "assemble", totals, "assembly")
    timed(pipeline.Tokenised, "get", totals, "tokenising")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        corpus = passages(tmp, tokenizer, data=args.data)
        base = PrecomputeConfig(model=str(args.model), data=str(corpus), out="",
                                label_column="category", id_column="id")
        bs = batches(args.model, corpus, base)
        model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
        time_floor(model, bs[:2], tokenizer.pad_token_id)  # warm-up
        for _ in range(args.rounds):
            for setting in args.settings:
                codec, precision = setting.split(":")
                floor = time_floor(model, bs, tokenizer.pad_token_id)
                totals.clear()
                cfg = PrecomputeConfig(**{**base.__dict__, "out": str(tmp / "out.h5"),
                                          "compression": codec, "precision": int(precision),
                                          "overwrite": True})
                loop = run(cfg, progress=False).loop_seconds
                parts = ", ".join(f"{k} {v:.3f}" for k, v in totals.items())
                print(f"{setting:9s} floor {floor:.3f} s, run {loop:.3f} s (÷ {floor / loop:.3f}):"
                      f" {parts}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
