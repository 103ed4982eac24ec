"""Head importance and ablation: what they cost.

- ``importance``: `precompute --importance` against the plain precompute, same corpus, same
  model, same process, the two alternating (``--rounds``); the precompute's own loop time
  (tokenising, extraction, writing and assembling the store; not the model loading).
- ``instance``: one instance switched off at ``--tokens`` tokens once the model is loaded,
  ``--runs`` times with a different head off each time, (a) through the explorer's worker
  (:class:`attviz.relations.service.RelationsService`: one torch thread, the store's model
  found and loaded once) and (b) through ``corpus.ablate`` (the process's torch threads).
- ``slice``: a slice of ``--slice`` instances (the explorer's uniform sample when the store
  holds more) through the explorer's worker, one batch of 16 per worker task, as the
  Corpus tab's "switch off over the slice" runs it.
- ``cli``: `attviz ablate` on the same number of instances (a process of its own: its
  printed rate excludes loading the model; the wall time includes everything).

The slice needs a store of at least ``--slice`` instances; the BBC demo's held-out store has
1,715, so the slice and cli parts take a bigger one, e.g. every BBC article:

    .venv/bin/attviz precompute --model demo-data/bbc-model \\
        --data ../shared/data/bbc/bbc-news.csv --out bench-data/bbc-all.h5 \\
        --text-column text --label-column category --id-column id
    .venv/bin/python benchmarks/ablation_bench.py importance --documents 150
    .venv/bin/python benchmarks/ablation_bench.py instance --store demo-data/bbc-heldout.h5
    .venv/bin/python benchmarks/ablation_bench.py slice cli --store bench-data/bbc-all.h5

Prints one JSON object. Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BBC = ROOT.parent / "shared" / "data" / "bbc" / "bbc-news.csv"
HEADS = [(1, 2), (5, 8), (0, 4)]  # any three heads: the time does not depend on which


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spread(times: list[float]) -> dict:
    t = sorted(times)
    return {"p50": round(statistics.median(t), 4),
            "p95": round(t[min(len(t) - 1, int(np.ceil(0.95 * len(t))) - 1)], 4),
            "max": round(t[-1], 4), "runs": len(t)}


def importance(args) -> dict:
    """Plain against --importance precompute, alternating, best of ``--rounds`` each."""
    import pandas as pd

    from attviz.precompute.job import PrecomputeConfig, run

    out: dict = {"load_average_before": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        df = pd.read_csv(args.data, dtype=str, keep_default_na=False).iloc[: args.documents]
        corpus = tmp / "corpus.csv"
        df[["id", "category", "text"]].to_csv(corpus, index=False)
        base = PrecomputeConfig(model=str(args.model), data=str(corpus), out="",
                                label_column="category", id_column="id", device="cpu")
        plain, imp = [], []
        for r in range(args.rounds):
            for flag, times in ((False, plain), (True, imp)):
                cfg = PrecomputeConfig(**{**base.__dict__, "out": str(tmp / f"{flag}{r}.h5"),
                                          "importance": flag})
                res = run(cfg, progress=False)
                times.append(res.loop_seconds)
                out["instances"] = res.instances
        from attviz.store import open_store

        with open_store(tmp / "True0.h5") as s:
            assert "importance" in s.head_stat_names
            out["tokens"] = int(s.columns.token_count.sum())
    out.update(documents=args.documents, plain_s=[round(t, 2) for t in plain],
               importance_s=[round(t, 2) for t in imp],
               ratio_each_round=[round(b / a, 3) for a, b in zip(plain, imp)],
               ratio_best=round(min(imp) / min(plain), 3),
               plain_instances_per_s=round(out["instances"] / min(plain), 1),
               importance_instances_per_s=round(out["instances"] / min(imp), 1))
    return out


def _service_run(service, store, token_ids: list, heads: list):
    from attviz.relations.service import AblationRequest

    req = AblationRequest(store.meta.provenance, token_ids, heads,
                          near=str(Path(store.path).parent))
    outcome = service.submit_ablation(req, lambda o: None).result()
    if outcome is None or outcome.ablation is None:
        raise RuntimeError(f"the ablation failed: {outcome and outcome.message}")
    return outcome.ablation


def instance(args) -> dict:
    import attviz
    from attviz.relations.service import RelationsService
    from attviz.relations.store_ablation import token_ids

    corpus = attviz.open(args.store)
    store = corpus.store
    counts = store.columns.token_count
    pick = np.flatnonzero(counts == args.tokens)[: args.runs]
    if len(pick) < args.runs:
        raise SystemExit(f"{args.store}: only {len(pick)} instances of {args.tokens} tokens")
    n_layers, n_heads = store.meta.num_layers, store.meta.num_heads
    heads = [[(r % n_layers, (r * 5) % n_heads)] for r in range(args.runs)]
    service = RelationsService()
    out: dict = {"store": args.store, "tokens": args.tokens}
    t0 = time.perf_counter()
    _service_run(service, store, token_ids(store, pick[:1]), heads[0])  # loads the model
    out["first_request_with_model_load_s"] = round(time.perf_counter() - t0, 2)
    out["load_average_before"] = load_average()
    times = []
    for k, h in zip(pick, heads):
        t0 = time.perf_counter()  # the store's tokens read, the request queued and run
        _service_run(service, store, token_ids(store, np.array([k])), h)
        times.append(time.perf_counter() - t0)
    out["explorer_worker_1_thread_s"] = spread(times)
    import torch

    corpus.ablate(int(pick[0]), heads[0])  # loads the model in this thread
    times = []
    for k, h in zip(pick, heads):
        t0 = time.perf_counter()
        corpus.ablate(int(k), h)
        times.append(time.perf_counter() - t0)
    out[f"corpus_ablate_{torch.get_num_threads()}_threads_s"] = spread(times)
    return out


def slice_run(args) -> dict:
    import attviz
    from attviz.explore.ablation_data import slice_instances
    from attviz.relations.service import RelationsService
    from attviz.relations.store_ablation import token_ids

    store = attviz.open(args.store).store
    idx, sampled = slice_instances(np.ones(store.n_instances, dtype=bool), args.slice)
    service = RelationsService()
    _service_run(service, store, token_ids(store, idx[:1]), HEADS)  # loads the model
    out: dict = {"store": args.store, "store_instances": store.n_instances,
                 "instances": len(idx), "sampled": sampled,
                 "tokens": int(store.columns.token_count[idx].sum()),
                 "heads": HEADS, "load_average_before": load_average()}
    t0 = time.perf_counter()
    job = _service_run(service, store, lambda: token_ids(store, idx), HEADS)
    out["explorer_worker_s"] = round(time.perf_counter() - t0, 2)
    out["model_s"] = round(job.seconds, 2)
    out["instances_per_s"] = round(len(idx) / out["explorer_worker_s"], 1)
    changed = job.probabilities.argmax(1) != store.columns.prediction[idx]
    out["changed"] = int(changed.sum())
    return out


def cli(args) -> dict:
    heads = ",".join(f"{a}.{b}" for a, b in HEADS)
    out: dict = {"store": args.store, "threads": args.threads or "torch's default",
                 "load_average_before": load_average()}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(ROOT / ".venv" / "bin" / "attviz"), "ablate", args.store, "--heads", heads,
               "--limit", str(args.slice), "--out", str(Path(tmp) / "changes.csv"),
               "--no-progress"]
        t0 = time.perf_counter()
        env = {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}
        p = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        out["wall_s"] = round(time.perf_counter() - t0, 2)
    out["command"] = " ".join(["attviz", *cmd[1:]])
    out["printed"] = p.stdout.strip()
    m = re.search(r"\(([\d.]+) s, ([\d.]+) instances/s\)", p.stdout)
    if m:
        out["model_s"], out["instances_per_s"] = float(m.group(1)), float(m.group(2))
    return out


PARTS = {"importance": importance, "instance": instance, "slice": slice_run, "cli": cli}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="+", choices=list(PARTS))
    ap.add_argument("--model", default=str(ROOT / "demo-data" / "bbc-model"))
    ap.add_argument("--data", default=str(BBC), help="corpus of the importance part")
    ap.add_argument("--documents", type=int, default=150,
                    help="first N documents of --data for the importance part")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--store", default=str(ROOT / "demo-data" / "bbc-heldout.h5"))
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--slice", type=int, default=2000)
    ap.add_argument("--threads", type=int, help="torch threads of this process (default: "
                    "torch's; the explorer's worker always runs one)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    res: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch "
                            f"{torch.__version__}, {torch.get_num_threads()} threads"}
    for part in args.parts:
        res[part] = PARTS[part](args)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
