"""Server scale: open, filter, read and page a store of 10,000 and 1,000,000 instances.

Writes synthetic stores with the real schema (`attviz synth`, 6 layers x 12 heads, 70% of
instances at 128 tokens) unless they exist, then measures each in a fresh process, through
the explorer's session state (what a browser session runs on the server):
time to open, RSS after open, each sidebar filter over all instances, reading one
instance, building one page of the instance table.

    .venv/bin/python benchmarks/scale_bench.py --instances 10000 1000000 --dir bench-data

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def measure(path: str) -> dict:
    import numpy as np
    import psutil

    proc = psutil.Process()
    from attviz.explore.rows import table_frame
    from attviz.explore.state import Explorer  # imports panel, param, h5py, numpy

    res: dict = {"store": path, "file_gb": os.path.getsize(path) / 1e9,
                 "rss_mb_before_open": proc.memory_info().rss / 2**20}
    t = time.perf_counter()
    ex = Explorer(store=path)
    res["open_s"] = time.perf_counter() - t
    assert ex.error == "", ex.error
    res["instances"] = ex.total
    res["rss_mb_after_open"] = proc.memory_info().rss / 2**20
    texts = ex.opened.store.texts([5])
    word = texts[0].split()[2]

    def timed(**params) -> float:
        best = []
        for _ in range(3):
            ex.filters.reset()
            t = time.perf_counter()
            ex.filters.param.update(**params)
            best.append(time.perf_counter() - t)
        return min(best)

    filters = {
        "misclassified only": dict(misclassified_only=True),
        "gold label": dict(gold=[1]),
        "predicted label": dict(predicted=[2]),
        "confusion cell": dict(cell=(1, 2)),
        "confidence 0.4-0.6": dict(confidence=(0.4, 0.6)),
        "tokens 20-100": dict(tokens=(20, 100)),
        "all of the above": dict(misclassified_only=True, gold=[1],
                                 confidence=(0.3, 0.9), tokens=(20, 128)),
    }
    res["filter_ms"] = {name: _ms(timed(**p)) for name, p in filters.items()}
    ex.opened._text_cache.clear()
    t = time.perf_counter()
    ex.filters.text = word
    res["filter_ms"]["text contains (first search)"] = _ms(time.perf_counter() - t)
    res["text_matches"] = ex.count
    ex.filters.text = ""
    t = time.perf_counter()
    ex.filters.text = word
    res["filter_ms"]["text contains (cached)"] = _ms(time.perf_counter() - t)
    ex.filters.text = ""
    t = time.perf_counter()
    ex.param.update(sort_by="confidence", descending=True)
    res["sort_by_confidence_ms"] = _ms(time.perf_counter() - t)

    rng = np.random.default_rng(0)
    reads = []
    for k in rng.choice(ex.total, size=60, replace=False):
        t = time.perf_counter()
        ex.opened.store.read_instance(int(k))
        reads.append(time.perf_counter() - t)
    res["instance_read_ms_median"] = _ms(statistics.median(reads))
    res["instance_read_ms_p95"] = _ms(float(np.percentile(reads, 95)))
    views = []
    for k in rng.choice(ex.total, size=30, replace=False):
        t = time.perf_counter()
        ex.instance = int(k)
        ex.view_data()
        views.append(time.perf_counter() - t)
    res["select_instance_ms_median"] = _ms(statistics.median(views))
    pages = []
    for p in rng.integers(1, ex.pages + 1, size=30):
        t = time.perf_counter()
        ex.page = int(p)
        frame = table_frame(ex.opened, ex.page_indices())
        pages.append(time.perf_counter() - t)
        assert len(frame) == ex.page_size or int(p) == ex.pages
    res["table_page_ms_median"] = _ms(statistics.median(pages))
    res["rss_mb_at_end"] = proc.memory_info().rss / 2**20
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--dir", default="bench-data")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    out_dir = Path(args.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    attviz = Path(sys.executable).parent / "attviz"
    results = []
    for n in args.instances:
        path = out_dir / f"synth-{n}.h5"
        synth_s = None
        if not path.exists():
            t = time.perf_counter()
            subprocess.run([str(attviz), "synth", "--instances", str(n), "--out", str(path)],
                           check=True)
            synth_s = time.perf_counter() - t
        r = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True,
                           capture_output=True, text=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["synth_s"] = synth_s
        results.append(res)
    keys = [k for k in results[0] if k not in ("filter_ms", "store")]
    print("| measure | " + " | ".join(f"{r['instances']:,} instances" for r in results) + " |")
    print("|---|" + "---:|" * len(results))
    for k in keys:
        cells = []
        for r in results:
            v = r[k]
            cells.append("-" if v is None else f"{v:,.2f}" if isinstance(v, float) else f"{v:,}")
        print(f"| {k} | " + " | ".join(cells) + " |")
    for name in results[0]["filter_ms"]:
        print(f"| filter: {name} (ms) | " + " | ".join(
            f"{r['filter_ms'][name]:,.2f}" for r in results) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
