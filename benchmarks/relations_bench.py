"""Relations view speed and memory.

Measures:
- compute, in this process, through the server's own code path (``RelationsService.run``:
  find the model, load it once, run it on one instance, take the shown layer's maps, the
  diagonals and the rollout): first use including the model load, then per instance;
- a BERT-base-shaped classifier (12 layers x 12 heads, hidden 768, random weights from a
  ``BertConfig``) at 512 tokens: time per request, with and without the gradient-weighted
  rollout; resident memory before a request, at its peak, after it with the result held
  (the shown layer's maps), and after the result is let go;
- in headless Chromium against `panel serve apps/` (MiniLM, the BBC store): an instance
  switch without relations (from the click on "next ›" until the heads x tokens heatmap
  shows the new instance), first use (from opening the Relations tab on a fresh server,
  model load included, until the raster shows the instance) and selection to drawn raster
  (from the click on "next ›" until the raster shows the new instance's tokens), timed
  from the harness.

    .venv/bin/python benchmarks/relations_bench.py demo-data/bbc-heldout.h5

Exits non-zero only on errors, never on slowness.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers.browser import CHROMIUM_ARGS  # noqa: E402
from tests.helpers.served import Server  # noqa: E402

RSS = psutil.Process()


def mib() -> float:
    return RSS.memory_info().rss / 2**20


class Peak:
    """The largest resident size seen while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.peak, self._stop = mib(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, mib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def timed(svc, request) -> tuple[float, object]:
    """Run ``request`` in the service's worker thread (as the server does); (seconds, outcome)."""
    got = []
    t0 = time.perf_counter()
    svc.submit(request, got.append).result()
    return time.perf_counter() - t0, got[0]


def compute_minilm(store_path: str, n: int) -> dict:
    from attviz.relations.service import RelationsService, Request
    from attviz.store import open_store

    with open_store(store_path) as s:
        prov, near = dict(s.meta.provenance), str(Path(store_path).resolve().parent)
        long = np.flatnonzero(np.diff(s.columns.token_start) == 128)[:n + 1]
        insts = s.read_instances(long)
    svc = RelationsService()
    seconds, first = timed(svc, Request(prov, insts[0].token_ids, 5, near=near))
    out = {"first_use_s": seconds, "model": first.model}
    if first.relations is None:
        raise SystemExit(f"no relations: {first.message}")
    times = [timed(svc, Request(prov, inst.token_ids, 5, near=near))[0] for inst in insts[1:]]
    grads = [timed(svc, Request(prov, inst.token_ids, 5, gradient=True, near=near))[0]
             for inst in insts[1:6]]
    out.update(per_instance_median_s=statistics.median(times), per_instance_max_s=max(times),
               gradient_median_s=statistics.median(grads), instances=len(times))
    return out


def compute_bert_base(tokens: int, repeats: int) -> dict:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from attviz.relations.service import RelationsService, Request

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        BertForSequenceClassification(BertConfig(num_labels=5)).save_pretrained(tmp)
        gc.collect()
        prov = {"model": tmp}
        rng = np.random.default_rng(0)
        ids = [np.concatenate([[101], rng.integers(1000, 20000, tokens - 2), [102]])
               for _ in range(repeats + 1)]
        svc = RelationsService()
        out = {"first_use_s": timed(svc, Request(prov, ids[0], 11))[0]}
        times, rss = [], []
        for x in ids[1:]:
            gc.collect()
            before = mib()
            with Peak() as p:
                seconds, res = timed(svc, Request(prov, x, 11))
            times.append(seconds)
            held = mib()
            del res
            gc.collect()
            rss.append((before, p.peak, held, mib()))
        with Peak() as p:
            out["gradient_s"] = timed(svc, Request(prov, ids[1], 11, gradient=True))[0]
        out["gradient_peak_mib"] = p.peak
        gc.collect()
        out["after_gradient_mib"] = mib()
    out.update(median_s=statistics.median(times), max_s=max(times),
               rss_before_mib=[r[0] for r in rss], rss_peak_mib=[r[1] for r in rss],
               rss_result_held_mib=[r[2] for r in rss], rss_after_mib=[r[3] for r in rss])
    return out


SHOWS = """([title, first, xend]) => {
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
    if (m.type !== 'Figure' || !m.title || !m.title.text.startsWith(title)) continue;
    const axis = (m.below || []).find(a => a.major_label_overrides !== undefined);
    const o = axis ? axis.major_label_overrides : null;
    const got = o ? [2, 4, 6].map(t => o.get ? o.get(t) : o[t]) : null;
    return m.x_range.end === xend && JSON.stringify(got) === JSON.stringify(first);
  }
  return false;
}"""


def browser(store_path: str, switches: int) -> dict:
    from playwright.sync_api import sync_playwright

    from attviz.explore.views.tokenplot import token_ticks
    from attviz.store import open_store

    def want(title: str, k: int) -> list:
        with open_store(store_path) as s:
            inst = s.read_instance(k)
        ticks = dict(token_ticks(list(inst.tokens)))
        return [title, [ticks.get(t) for t in (2, 4, 6)], inst.n_tokens - 0.5]

    def switches_until(page, title: str, first: int, count: int) -> list[float]:
        nxt = page.get_by_role("button", name="next ›")
        times = []
        for k in range(first, first + count):
            w = want(title, k)
            t0 = time.perf_counter()
            nxt.click()
            page.wait_for_function(SHOWS, arg=w, timeout=30000, polling="raf")
            times.append(time.perf_counter() - t0)
            time.sleep(0.3)
        return times

    server = Server("--store", str(Path(store_path).resolve()))
    out: dict = {}
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = b.new_page(viewport={"width": 1500, "height": 1500})
            page.goto(server.url + "?instance=0")
            page.wait_for_selector(".av-tok", timeout=60000)
            page.wait_for_function("() => Bokeh.documents.every(d => d.is_idle)", timeout=60000)
            time.sleep(1.0)
            plain = switches_until(page, "Self-attention", 1, switches)
            out.update(plain_switch_median_s=statistics.median(plain),
                       plain_switch_max_s=max(plain))
            t0 = time.perf_counter()
            page.locator(".bk-tab", has_text="Relations").click()
            page.wait_for_function(SHOWS, arg=want("Token x token", switches), timeout=60000,
                                   polling="raf")
            out["first_use_s"] = time.perf_counter() - t0
            time.sleep(1.0)
            times = switches_until(page, "Token x token", switches + 1, switches)
            out.update(switch_median_s=statistics.median(times), switch_max_s=max(times),
                       switch_p90_s=float(np.percentile(times, 90)), switches=len(times))
            b.close()
    finally:
        server.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", help="a MiniLM store whose model is on this machine")
    ap.add_argument("--instances", type=int, default=20, help="MiniLM instances computed")
    ap.add_argument("--tokens", type=int, default=512, help="BERT-base input length")
    ap.add_argument("--repeats", type=int, default=3, help="BERT-base requests timed")
    ap.add_argument("--switches", type=int, default=20, help="instance switches in the browser")
    ap.add_argument("--json", help="also write the numbers to this file")
    args = ap.parse_args()
    import torch

    results = {"machine": f"{platform.machine()}, {psutil.cpu_count()} cores, "
                          f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
               "load_average": psutil.getloadavg(), "torch": torch.__version__}
    results["minilm_compute"] = compute_minilm(args.store, args.instances)
    results["minilm_browser"] = browser(args.store, args.switches)
    results["bert_base_512"] = compute_bert_base(args.tokens, args.repeats)
    text = json.dumps(results, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
