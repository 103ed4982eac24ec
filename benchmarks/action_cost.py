"""What each action of a person costs the server: one signed-in session against an otherwise
idle `attviz serve` on loopback, driven at Bokeh's protocol level (as benchmarks/load_bench.py
does), each action repeated; reports the time until the page shows its result and the
server's CPU milliseconds (user + system of the server process, until it is idle again).

    .venv/bin/python benchmarks/action_cost.py demo-data/bbc-heldout.h5 [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_bench import PASSWORD, lab  # noqa: E402
from benchmarks.load_clients import _model, _tab_index  # noqa: E402
from tests.helpers.lab import LabServer  # noqa: E402
from tests.helpers.wsclient import Session, sign_in  # noqa: E402


def cpu_ms(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return 1000 * (t.user + t.system)


async def idle(proc: psutil.Process, quiet: float = 0.3) -> None:
    """Until the server used no CPU for ``quiet`` seconds (its work for an action is done)."""
    last, since = cpu_ms(proc), time.monotonic()
    while time.monotonic() - since < quiet:
        await asyncio.sleep(0.05)
        now = cpu_ms(proc)
        if now - last > 1.0:
            last, since = now, time.monotonic()


class Costs:
    def __init__(self, proc: psutil.Process) -> None:
        self.proc, self.seen = proc, {}

    async def time(self, name: str, s: Session, send, done) -> None:
        await idle(self.proc)
        c0, t0 = cpu_ms(self.proc), time.perf_counter()
        await send
        await s.wait_for(done, 60)
        wall = time.perf_counter() - t0
        await idle(self.proc)
        self.seen.setdefault(name, []).append((wall, cpu_ms(self.proc) - c0))

    def table(self) -> dict:
        out = {}
        for name, v in self.seen.items():
            walls, cpus = [w for w, _ in v], [c for _, c in v]
            out[name] = {"n": len(v), "wall_p50_s": round(statistics.median(walls), 3),
                         "wall_max_s": round(max(walls), 3),
                         "cpu_ms_p50": round(statistics.median(cpus)),
                         "cpu_ms_max": round(max(cpus))}
        return out


def _changed(s: Session, needle: str):
    before = s.text_with(needle)
    return lambda: s.text_with(needle) != before


async def one_session(base: str, proc: psutil.Process, repeats: int) -> dict:
    costs = Costs(proc)
    cookie = await sign_in(base, "user-00", PASSWORD)
    for _ in range(repeats):
        fresh = Session(base, cookie=cookie)
        await costs.time("open a session", fresh, fresh.open(),
                         lambda f=fresh: f.text_with("av-instance") is not None)
        await fresh.close()
    s = Session(base, cookie=cookie)
    await s.open()
    await s.wait_for(lambda: s.text_with("av-instance") is not None)
    mis = _model(s, "label", "misclassified only")
    nxt = _model(s, "label", "next ›")
    layer = _model(s, "title", "layer", "Slider")
    aggregation = _model(s, "title", "aggregation")
    text = _model(s, "title", "text contains")
    tab = _tab_index(s, "Corpus")
    for _ in range(repeats):
        await costs.time("misclassified only (on)", s, s.set(mis, "active", True),
                         _changed(s, "av-count"))
        for _ in range(3):
            await costs.time("instance switch", s, s.click(nxt), _changed(s, "av-instance"))
        new = (s.attr(layer, "value") - 1) % (s.attr(layer, "end") + 1)
        await costs.time("layer", s, s.set(layer, "value", new), lambda n=new: any(
            str(s.attr(m, "text")).startswith(f"Self-attention, layer {n}:")
            for m in s.find("Title", "text")))
        agg = "max" if s.attr(aggregation, "value") != "max" else "mean"
        seen = len(s.models)
        await costs.time("aggregation", s, s.set(aggregation, "value", agg),
                         lambda seen=seen, a=agg: s.attr(aggregation, "value") == a)
        await costs.time("corpus view", s, s.set(tab[0], "active", tab[1]),
                         lambda seen=len(s.models): len(s.models) > seen or s.text_with(
                             "av-corpus-summary") is not None)
        await costs.time("back to the instance", s, s.set(tab[0], "active", 0),
                         lambda: s.attr(tab[0], "active") == 0)
        await costs.time("misclassified only (off)", s, s.set(mis, "active", False),
                         _changed(s, "av-count"))
        for word, name in (("oil", "text contains (on)"), ("", "text contains (off)")):
            await costs.time(name, s, s.set(text, "value", word), _changed(s, "av-count"))
    await s.close()
    return costs.table()


def on_idle_server(store: Path, drive):
    """What ``drive(base, proc)`` (a coroutine function: the server's URL and process)
    returns, run against an `attviz serve` of ``store`` with one user, user-00."""
    with tempfile.TemporaryDirectory(prefix="attviz-cost-") as tmp:
        root, users, access = lab(Path(tmp), store.resolve(), ["user-00"])
        server = LabServer(root, users, access)
        try:
            return asyncio.run(drive(server.base, psutil.Process(server.proc.pid)))
        finally:
            server.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("store", type=Path)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    out = on_idle_server(args.store, lambda base, proc: one_session(base, proc, args.repeats))
    print("| action | n | wall p50 (s) | wall max (s) | server CPU p50 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in out.items():
        print(f"| {name} | {r['n']} | {r['wall_p50_s']} | {r['wall_max_s']} | "
              f"{r['cpu_ms_p50']} | {r['cpu_ms_max']} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
