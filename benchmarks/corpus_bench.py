"""The corpus view and the indexed queries on a large store, measured on the server side.

Writes a synthetic store with the real schema, statistics, profiles and token index
(`attviz synth`, 6 layers x 12 heads, 70% of instances at 128 tokens, planted structure)
unless it exists, then measures in a fresh process through the explorer's session state
and its corpus view (what a browser session runs on the server): opening; the head grid
over the whole store, over a filtered slice (first time and repeated) and in contrast mode
with AUROC; token and position profiles, exact and sampled; text search through the token
index (first time: a word, phrases of two and three words) against the scan; head-statistic
filters and sorting; RSS after opening and over 100 corpus-view updates; the token index's
bytes per token.

    .venv/bin/python benchmarks/corpus_bench.py --instances 1000000 --dir bench-data

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def measure(path: str) -> dict:
    import psutil

    from attviz.explore.state import Explorer
    from attviz.store.synth import structured_heads

    proc = psutil.Process()
    res: dict = {"store": path, "file_gb": round(os.path.getsize(path) / 1e9, 2)}
    t = time.perf_counter()
    ex = Explorer(store=path)
    res["open_s"] = round(time.perf_counter() - t, 3)
    assert ex.error == "", ex.error
    res["instances"] = ex.total
    res["rss_mb_after_open"] = round(proc.memory_info().rss / 2**20, 1)
    corpus = ex.opened.slices
    cols = ex.opened.cols
    meta = ex.opened.store.meta
    layer, head = structured_heads(meta.num_layers, meta.num_heads)["error"]

    ms: dict = {}
    _computations(corpus, cols, (layer, head), ms, res)
    _queries(ex, (layer, head), ms, res)
    _updates(ex, proc, res)
    res["ms"] = {k: _ms(v) for k, v in ms.items()}
    _index_sizes(path, res)
    return res


def _index_sizes(path: str, res: dict) -> None:
    """Stored (compressed) bytes per token of the token index's datasets."""
    import h5py

    with h5py.File(path, "r") as f:
        tokens = f["/tokens/id"].shape[0]
        for name in ("instances", "occurrences"):
            ds = f.get(f"/index/token/{name}")
            if ds is not None:
                res[f"index {name}: bytes per token"] = round(ds.id.get_storage_size() / tokens, 3)


def once(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _computations(corpus, cols, planted: tuple[int, int], ms: dict, res: dict) -> None:
    """The corpus view's computations, each first and repeated."""
    import numpy as np

    layer, head = planted
    everything = np.ones(len(cols), bool)
    known = cols.label >= 0
    wrong, right = known & ~cols.correct, known & cols.correct
    ms["head grid, whole store (exact, group sums)"], _ = once(
        lambda: corpus.grid("self_mean", everything, None))
    ms["head grid, whole store, repeated"], _ = once(
        lambda: corpus.grid("self_mean", everything, None))
    sliced = (cols.confidence >= 0.4) & (cols.confidence <= 0.9)  # not a union of groups
    ms["head grid, confidence 0.4-0.9 slice, first"], _ = once(
        lambda: corpus.grid("self_max", sliced, None))
    ms["head grid, confidence 0.4-0.9 slice, repeated"], _ = once(
        lambda: corpus.grid("self_max", sliced, None))
    other = (cols.token_count >= 60) & (cols.token_count <= 127)
    ms["head grid, another slice, statistic in memory"], _ = once(
        lambda: corpus.grid("self_max", other, None))
    ms["contrast misclassified vs correct + AUROC, first"], grid = once(
        lambda: corpus.grid("self_mean", wrong, right))
    ms["contrast misclassified vs correct + AUROC, repeated"], _ = once(
        lambda: corpus.grid("self_mean", wrong, right))
    res["planted error head AUROC"] = round(float(grid.auroc[layer, head]), 4)
    ms["token profile, whole store (exact)"], _ = once(
        lambda: corpus.tokens(everything, 2, 5, None, 5, 30))
    ms["token profile, misclassified vs correct (exact)"], _ = once(
        lambda: corpus.tokens(wrong, 2, 5, right, 5, 30))
    ms["token profile, confidence slice (sample)"], prof = once(
        lambda: corpus.tokens(sliced, 2, 5, None, 5, 30))
    res["token profile sample"] = prof.sample
    ms["position profile, whole store (exact)"], _ = once(lambda: corpus.positions(everything, 5))
    ms["position profile, confidence slice (sample)"], _ = once(
        lambda: corpus.positions(sliced, 5))


def _queries(ex, planted: tuple[int, int], ms: dict, res: dict) -> None:
    """Text search, head filters and sorting by a head, through the session's filters."""
    from attviz.explore.filters import HeadCondition

    layer, head = planted

    texts = ex.opened.store.texts([5, 77, 301])
    word, phrase = texts[0].split()[3], " ".join(texts[1].split()[4:6])
    three = " ".join(texts[2].split()[2:5])
    for label, query, inside in (("word, index", word, False), ("phrase, index", phrase, False),
                                 ("phrase of 3 words, index", three, False),
                                 ("word, scan", word, True)):
        ex.opened._text_cache.clear()
        ms[f"text search first time: {label}"], _ = once(
            lambda q=query, i=inside: ex.filters.param.update(text=q, inside_words=i))
        res[f"text matches: {label}"] = ex.count
        ex.filters.param.update(text="", inside_words=False)
    cond = HeadCondition("self_max", 3, 7, 0.5)
    ms["head filter self_max L3 H7 >= 0.5, first"], _ = once(
        lambda: setattr(ex.filters, "head_filters", [cond]))
    res["head filter matches"] = ex.count
    ex.filters.head_filters = []
    ms["head filter, repeated"], _ = once(lambda: setattr(ex.filters, "head_filters", [cond]))
    ex.filters.head_filters = []
    ms["sort the table by a head statistic"], _ = once(
        lambda: ex.sort_by_head("self_mean", layer, head))
    ex.param.update(sort_by="corpus order", descending=False)


def _updates(ex, proc, res: dict) -> None:
    """100 filter changes with the corpus view shown: time and memory."""
    import numpy as np

    from attviz.explore.views.corpus import CorpusView

    view = CorpusView(explorer=ex)
    view.show()
    rss = [proc.memory_info().rss]
    slices = [dict(misclassified_only=True), dict(misclassified_only=False),
              dict(confidence=(0.3, 0.95)), dict(confidence=(0.0, 1.0)), dict(gold=[1]),
              dict(gold=[]), dict(cell=(2, 3)), dict(cell=None)]
    times = []
    for i in range(100):
        t = time.perf_counter()
        ex.filters.param.update(**slices[i % len(slices)])
        if i % 10 == 5:
            view.settings.contrast = "errors" if view.settings.contrast == "none" else "none"
        times.append(time.perf_counter() - t)
        rss.append(proc.memory_info().rss)
    res["corpus view update (filter + recompute) ms median"] = _ms(float(np.median(times)))
    res["corpus view update ms p95"] = _ms(float(np.percentile(times, 95)))
    res["rss_mb_after_first_update"] = round(rss[1] / 2**20, 1)
    res["rss_mb_max_over_100_updates"] = round(max(rss) / 2**20, 1)
    res["rss_mb_after_100_updates"] = round(rss[-1] / 2**20, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--dir", default="bench-data")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    path = Path(args.dir) / f"synth-{args.instances}.h5"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(Path(sys.executable).parent / "attviz"), "synth", "--instances",
                        str(args.instances), "--out", str(path)], check=True)
    r = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True,
                       capture_output=True, text=True)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"| measure ({res['instances']:,} instances, {res['file_gb']} GB) | ms |")
    print("|---|---:|")
    for k, v in res.pop("ms").items():
        print(f"| {k} | {v:,.1f} |")
    for k, v in res.items():
        if k not in ("store", "instances", "file_gb"):
            print(f"| {k} | {v:,} |" if isinstance(v, (int, float)) else f"| {k} | {v} |")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
