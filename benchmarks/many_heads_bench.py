"""A decoder classifier shaped like an 8B one where it matters for attviz: 32 layers x 32
heads with 8 key-value heads (grouped-query attention), causal, rotary positions; a
hidden size of 256 (head size 8) so that it runs on 2 CPU cores. At 512 and 2,048 tokens:

- bytes per token of each option (float16 / --precision 8 / --layers=-4- / both), the
  attention alone and the whole store, and the store size per million instances;
- precompute throughput against a bare loop of SDPA forward passes over the same batches:
  batch by batch, the bare forward pass and attviz's extraction (fused kernel, diagonals,
  statistics, the stored form) one after the other, the best of --repeats per batch, so
  that both see the same load of the shared machine; and the whole precompute (blocks,
  assembly, compression) against the bare loop, best of --repeats, alternating;
- relations of one instance (RelationsService's run: eager maps of the shown layer kept)
  and `attviz verify` of one instance: time and peak memory, each in a fresh process;
- the corpus view at 100,000 instances (benchmarks/corpus_bench.py's measurements) on a
  synthetic store of the same 32 x 32 heads (instances of up to 32 tokens: the corpus view
  reads statistics per head, not tokens), written with --precision 8;
- head importance per instance (`precompute --importance`: one backward pass to a gate on
  every head) against the extraction alone: time and peak memory, each in a fresh process.

    .venv/bin/python benchmarks/many_heads_bench.py --dir bench-data

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHAPE = dict(family="llama", layers=32, heads=32, kv_heads=8, hidden=256)
OPTIONS = {"float16": {}, "--precision 8": {"precision": 8}, "--layers=-4-": {"layers": "-4-"},
           "--layers=-4- --precision 8": {"layers": "-4-", "precision": 8}}
PER_TOKEN = ("attention", "tokens/")
PER_INSTANCE = ("instances/",)


def make_model(tmp: Path, length: int) -> Path:
    from attviz.testing import save_tiny_classifier

    return save_tiny_classifier(tmp / f"model-{length}", max_positions=length,
                                max_length=length, **SHAPE)


def corpus(tmp: Path, instances: int, length: int) -> Path:
    """Documents that fill ``instances`` windows of ``length`` tokens (a word is a token
    of the tiny tokenizer, about)."""
    from attviz.testing import make_documents

    docs = make_documents(instances, seed=2, min_words=length + 50, max_words=length + 60)
    path = tmp / f"c{length}.csv"
    pd.DataFrame({"id": [f"d{i}" for i in range(len(docs))], "text": [t for t, _ in docs],
                  "label": [lab for _, lab in docs]}).to_csv(path, index=False)
    return path


def store_bytes(path: Path) -> dict:
    """Bytes on disk: the attention, the rest per token, per instance, and fixed."""
    out = {"attention": 0, "per_token_rest": 0, "per_instance": 0, "fixed": 0}

    def visit(name, node):
        if not isinstance(node, h5py.Dataset):
            return
        size = node.id.get_storage_size()
        if name == "attention/self":
            out["attention"] += size
        elif name.startswith("tokens/"):
            out["per_token_rest"] += size
        elif name.startswith("instances/"):
            out["per_instance"] += size
        else:
            out["fixed"] += size  # vocabulary, tokenizer, profiles, index, documents

    import hdf5plugin  # noqa: F401

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def streamed(model_dir: Path, bs, repeats: int) -> dict:
    """The bare forward loop's time over all batches ``bs`` ÷ that of: the extraction in
    the extractor's streams (``--streams auto``), in one stream, and the bare loop in as
    many streams; alternating, ``repeats`` rounds (the best times' ratio, and the median
    of the rounds' ratios). The extraction: forward passes with the per-query quantities,
    no tokenising or writing."""
    import copy

    import torch
    from precompute_bench import padded
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attviz.precompute.extract import Extractor
    from attviz.precompute.extract.streams import in_streams

    bare = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    bare.set_attn_implementation("sdpa")
    pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
    paths = {"auto": Extractor(copy.deepcopy(bare), pad),
             "one stream": Extractor(copy.deepcopy(bare), pad, streams=1)}

    def one(b):
        with torch.inference_mode():
            bare(**dict(zip(("input_ids", "attention_mask"), padded(b, pad))))

    runs = {"floor": lambda: list(map(one, bs)),
            "floor in streams": lambda: list(in_streams(one, bs, paths["auto"].streams)),
            **{k: (lambda ex=ex: list(ex.map((b, None) for b in bs))) for k, ex in paths.items()}}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    floor = np.array(times["floor"])
    return {k: {"best": float(floor.min() / min(times[k])),
                "median of rounds": float(np.median(floor / np.array(times[k]))),
                "rounds": (floor / np.array(times[k])).round(3).tolist()}
            for k in runs if k != "floor"} | {"streams": paths["auto"].streams}


def interleaved(model_dir: Path, base, bs, opts: dict, repeats: int) -> float:
    """Bare forward time ÷ attviz extraction time, batch by batch (best of ``repeats``
    each): what compute_block adds to the forward pass."""
    import copy
    from dataclasses import replace

    import torch
    from precompute_bench import padded
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attviz.precompute.extract import Extractor
    from attviz.precompute.extract.block import BlockSettings, _stored
    from attviz.precompute.layerspec import resolve
    from attviz.store.derive import self_statistics

    bare = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    bare.set_attn_implementation("sdpa")
    pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
    ex = Extractor(copy.deepcopy(bare), pad)
    layers = resolve(opts.get("layers"), ex.num_layers)
    settings = replace(BlockSettings(base.max_length), precision=opts.get("precision", 16),
                       layers=tuple(layers) if layers else None)
    floor = attviz = 0.0
    for b in bs:
        f, a = [], []
        for _ in range(repeats):
            ids, mask = padded(b, pad)
            t = time.perf_counter()
            with torch.inference_mode():
                bare(input_ids=ids, attention_mask=mask)
            f.append(time.perf_counter() - t)
            t = time.perf_counter()
            res = ex(b)
            full = [np.ascontiguousarray(x, dtype=np.float16) for x in res.attention]
            joined = np.concatenate(full).astype(np.float32)
            self_statistics(joined, np.zeros(len(joined), bool), np.array([len(x) for x in b]))
            _stored(res.attention, full, settings)
            a.append(time.perf_counter() - t)
        floor, attviz = floor + min(f), attviz + min(a)
    return floor / attviz


def precompute_part(tmp: Path, length: int, instances: int, repeats: int) -> dict:
    from precompute_bench import batches, time_floor
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attviz.precompute.job import PrecomputeConfig, run

    model_dir = make_model(tmp, length)
    data = corpus(tmp, instances, length)
    base = PrecomputeConfig(model=str(model_dir), data=str(data), out="", max_length=length,
                            batch_size=max(1, 2048 // length), label_column="label")
    bs = batches(model_dir, data, base)
    tokens = sum(len(x) for b in bs for x in b)
    n = sum(len(b) for b in bs)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
    time_floor(model, bs[:1], pad)
    res: dict = {"instances": n, "tokens": tokens, "options": {}}
    for name, opts in OPTIONS.items():
        floors, loops = [], []
        for r in range(repeats):
            floors.append(time_floor(model, bs, pad))
            out = tmp / f"s{length}-{len(res['options'])}-{r}.h5"
            cfg = PrecomputeConfig(**{**base.__dict__, "out": str(out), **opts})
            loops.append(run(cfg, progress=False).loop_seconds)
        b = store_bytes(out)
        extraction = interleaved(model_dir, base, bs, opts, repeats + 1)
        per_instance = (b["attention"] + b["per_token_rest"]) / n + b["per_instance"] / n
        res["options"][name] = {
            "attention_bytes_per_token": b["attention"] / tokens,
            "store_bytes_per_token": os.path.getsize(out) / tokens,
            "fixed_bytes": b["fixed"],
            "gb_per_million_instances": per_instance * 1e6 / 1e9,
            "extraction_over_floor_per_batch": extraction,
            "over_floor_best": min(floors) / min(loops),
            "over_floor_rounds": [f / a for f, a in zip(floors, loops)],
            "floor_tokens_per_s": tokens / min(floors)}
    res["model"] = str(model_dir)
    res["default_store"] = str(tmp / f"s{length}-0-{repeats - 1}.h5")
    return res


CHILD = r"""
import json, re, resource, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from attviz.store import Store


def status(key):  # MiB, from /proc/self/status (Linux)
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024


def start():
    # Linux: clear the process's peak resident set (VmHWM), so that the peak read after the
    # run is the run's own, not that of loading the model
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return status("VmRSS"), time.perf_counter()


what, store, model = sys.argv[1:4]
with Store(store) as s:
    k = int(np.argmax(s.columns.token_count))  # the longest instance
    inst = s.read_instance(k)
    last = s.meta.num_layers - 1
if what == "relations":
    from attviz.relations.compute import run
    from attviz.relations.models import ModelCache, locate
    m = ModelCache(1).get(locate(s.meta.provenance, None, None))
    before, t = start()
    run(m, inst.token_ids, layer=last)
elif what == "verify":
    from attviz.precompute.verify import eager_diagonals, load_eager
    m, light = load_eager(model)
    before, t = start()
    eager_diagonals(m, inst.token_ids, light)
else:  # "importance" or "extraction": attviz's precompute path on this one instance
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from attviz.precompute.extract import Extractor
    m = AutoModelForSequenceClassification.from_pretrained(model).eval()
    pad = AutoTokenizer.from_pretrained(model).pad_token_id
    ex = Extractor(m, pad, importance=what == "importance")
    ex([inst.token_ids[:16]], labels=np.array([0]))  # warm-up
    before, t = start()
    out = ex([inst.token_ids], labels=np.array([max(0, inst.label)]))
    assert (what == "importance") == ("importance" in out.stats)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "tokens": int(inst.n_tokens), "rss_mb_before": before,
                  "peak_rss_mb": status("VmHWM"),
                  "process_peak_rss_mb":
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

KINDS = ("relations", "verify", "extraction", "importance")


def per_instance(store: str, model: str, kinds=KINDS) -> dict:
    """Time and memory of one instance (the store's longest), each kind in a fresh process
    with one torch thread: relations (eager maps, the last layer's kept), verify (eager
    diagonals, one layer's maps at a time), attviz's extraction alone and with head
    importance (one backward pass). Memory: the resident set before the run and its peak
    during the run (the process's peak cleared after loading, Linux), and the process's
    peak from its start."""
    out = {}
    for what in kinds:
        r = subprocess.run([sys.executable, "-c", CHILD, what, store, model], check=True,
                           capture_output=True, text=True, cwd=ROOT)
        out[what] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def corpus_view(folder: Path) -> dict:
    from attviz.store.synth import synthesize

    path = folder / "synth32x32-100000.h5"
    t = time.perf_counter()
    if not path.exists():
        synthesize(path, 100_000, layers=32, heads=32, max_tokens=32, precision=8,
                   progress=False)
    made = time.perf_counter() - t
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corpus_bench.py"),
                        "--measure", str(path)], check=True, capture_output=True, text=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["synth_s"] = made
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="bench-data", help="where the 100,000-instance store goes")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--lengths", default="512,2048", help="instance lengths to measure")
    ap.add_argument("--json")
    args = ap.parse_args()
    res: dict = {"shape": SHAPE}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for length in map(int, args.lengths.split(",")):
            instances = max(2, 16384 // length)
            part = precompute_part(tmp, length, instances, args.repeats)
            part["per_instance"] = per_instance(part.pop("default_store"), part["model"])
            res[f"tokens_{length}"] = part
    if not args.skip_corpus:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        res["corpus_view_100000"] = corpus_view(Path(args.dir))
    res["load_average"] = os.getloadavg()
    print(json.dumps(res, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
