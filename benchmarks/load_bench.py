"""The explorer under load: N signed-in sessions of the real app at once against one
`attviz serve` on loopback, driven at Bokeh's protocol level, plus real Chromium pages that
check what they show (benchmarks/load_clients.py). Reports per-action latency (p50, p95,
max), errors, sessions lost, and the server's memory (RSS, all its processes): at start,
after one session came and went (the baseline), during the run, and after the sessions
closed.

    .venv/bin/python benchmarks/load_bench.py demo-data/bbc-heldout.h5
    .venv/bin/python benchmarks/load_bench.py demo-data/bbc-heldout.h5 --num-procs 2

The store is linked (or copied) into a temporary store root with a users file and an access
file; the server runs with `attviz serve`'s defaults. The benchmark stops by itself; it
exits non-zero on errors, lost sessions or wrong pages, never on slowness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attviz.lab.allocator import in_use  # noqa: E402
from attviz.lab.users import Users  # noqa: E402
from benchmarks.load_clients import (  # noqa: E402
    BrowserUser,
    Results,
    _corpus_shows_the_slice,
    _tab_index,
    protocol_users,
)
from tests.helpers.browser import CHROMIUM_ARGS  # noqa: E402
from tests.helpers.lab import LabServer  # noqa: E402
from tests.helpers.wsclient import Session, sign_in  # noqa: E402

PASSWORD = "load-bench-passphrase"


def lab(folder: Path, store: Path, users: list[str]) -> tuple[Path, Path, Path]:
    """A store root holding ``store`` (hard links where possible), users and access files."""
    root = folder / "stores"
    target = root / "lab" / store.name
    target.parent.mkdir(parents=True)
    files = sorted(store.glob("*.h5")) if store.is_dir() else [store]
    for f in files:
        dest = target / f.name if store.is_dir() else target
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, dest)
        except OSError:
            shutil.copy(f, dest)
    known = Users()
    for name in users:
        known.add(name, ["lab"], PASSWORD)
    known.save(folder / "users.json")
    (folder / "access.toml").write_text('[groups]\nlab = ["lab"]\n')
    return root, folder / "users.json", folder / "access.toml"


def rss_mb(pid: int) -> float:
    """Resident memory of the server: the process and all its children (--num-procs)."""
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
        return sum(q.memory_info().rss for q in procs if q.is_running()) / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


class Sampler(threading.Thread):
    """RSS of the server every second, with the time; and the CPU seconds used so far by the
    server's processes and by the clients' (this benchmark and its Chromium), each process
    as last seen, so that where the cores went can be told apart."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stopped = pid, [], threading.Event()
        self.cpu: dict[int, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.samples.append((time.monotonic(), rss_mb(self.pid)))
            self.count_cpu()

    def count_cpu(self) -> None:
        me = psutil.Process()
        try:
            server = psutil.Process(self.pid)
            ours = {server.pid, *(q.pid for q in server.children(recursive=True))}
        except psutil.NoSuchProcess:
            ours = set()
        for q in [me, *me.children(recursive=True)]:
            try:
                with self.lock:
                    self.cpu[q.pid] = ("server" if q.pid in ours else "clients", cpu_seconds(q))
            except psutil.NoSuchProcess:
                pass

    def cpu_totals(self) -> dict[str, float]:
        self.count_cpu()
        out = {"server": 0.0, "clients": 0.0}
        with self.lock:
            seen = list(self.cpu.values())
        for side, seconds in seen:
            out[side] += seconds
        return out

    def between(self, t0: float, t1: float) -> list[float]:
        return [m for t, m in self.samples if t0 <= t <= t1]


async def warm_up(base: str, name: str, corpus_tab: str) -> None:
    """One session that does once what a load user does (misclassified only, three steps, a
    layer, the corpus view when the app has it, misclassified only off) and closes, as a
    first visitor: the baseline then holds what the server keeps per store once any
    session used a feature (indexes of the corpus view's groups, chunk caches), and what
    stays above it is what sessions leave behind."""
    s = Session(base, cookie=await sign_in(base, name, PASSWORD))
    await s.open()
    await s.wait_for(lambda: s.text_with("av-instance") is not None)
    labels = {s.attr(m, "label"): m for m in s.find(None, "label")}
    count = s.text_with("av-count")
    await s.set(labels["misclassified only"], "active", True)
    await s.wait_for(lambda: s.text_with("av-count") != count)
    for _ in range(3):
        title = s.text_with("av-instance")
        await s.click(labels["next ›"])
        await s.wait_for(lambda t=title: s.text_with("av-instance") != t)
    layer = next(m for m in s.find("Slider", "title") if s.attr(m, "title") == "layer")
    new = (s.attr(layer, "value") - 1) % ((s.attr(layer, "end") or 0) + 1)
    await s.set(layer, "value", new)
    await s.wait_for(lambda: any(str(s.attr(m, "text")).startswith(
        f"Self-attention, layer {new}:") for m in s.find("Title", "text")))
    tab = _tab_index(s, corpus_tab)
    if tab is not None:
        await s.set(tab[0], "active", tab[1])
        await s.wait_for(lambda: _corpus_shows_the_slice(s))
        await s.set(tab[0], "active", 0)
    count = s.text_with("av-count")
    await s.set(labels["misclassified only"], "active", False)
    await s.wait_for(lambda: s.text_with("av-count") != count)
    await s.close()


def browsers_run(url: str, names: list[str], store_path: Path, seconds: float,
                 results: Results) -> None:
    """The Chromium pages, stepping in turn until the time is up."""
    if not names:
        return
    from playwright.sync_api import sync_playwright

    from attviz.store import open_store

    with sync_playwright() as p, open_store(store_path) as store:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        users = [BrowserUser(browser, url, n, PASSWORD, store, results) for n in names]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(u.ok for u in users):
            for u in users:
                u.step()
            time.sleep(0.5)
        for u in users:
            u.close()
        browser.close()


def percentiles(samples: list[tuple[float, float]]) -> dict:
    v = [dt for _, dt in samples]
    return {"n": len(v), "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
            "max": float(np.max(v))} if v else {"n": 0}


def summary(results: Results, sampler: Sampler, marks: dict, args, log: str) -> dict:
    opened = sorted(w + dt for w, dt in results.latencies.get("open", []))
    all_open = opened[args.sessions - 1] if len(opened) >= args.sessions else float("inf")
    lat = {a: percentiles(v) for a, v in results.latencies.items() if v}
    # the first round's actions once every session was open (no page built meanwhile)
    steady = {a: percentiles([(w, dt) for w, dt in v if all_open < w < marks["closed"]])
              for a, v in results.latencies.items() if a != "open"}
    during = sampler.between(marks["load"], marks["end"])  # the peak of all rounds
    after = sampler.between(marks["closed"], marks["end"])
    cpu = {side: marks["cpu_closed"][side] - marks["cpu_load"][side]
           for side in ("server", "clients")}
    cores = cpu["server"] + cpu["clients"]
    server_errors = [line for line in log.splitlines()
                     if "Traceback" in line or "Exception" in line]
    return {
        "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, "
                   f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python "
                   f"{platform.python_version()}",
        "store": str(args.store), "sessions": args.sessions, "seconds": args.seconds,
        "num_procs": args.num_procs, "browsers": args.browsers, "think_s": args.think,
        "rounds": args.rounds, "allocator": marks.get("allocator"),
        "latency_s": lat, "latency_once_all_open_s": steady,
        "all_open_after_s": all_open - marks["load"],
        "errors": results.errors + server_errors,
        "sessions_lost": results.lost,
        # CPU seconds of the first round, and the share of both cores they are
        "cpu_s": {**cpu, "wall": marks["closed"] - marks["load"],
                  "share_of_cores": cores / ((marks["closed"] - marks["load"])
                                             * psutil.cpu_count())},
        "corpus_view": results.corpus_view,
        "browser_checks": results.browser_checks, "browser_wrong": results.browser_wrong,
        "rss_mb": {"start": marks["rss_start"], "baseline": marks["rss_baseline"],
                   "peak_during": max(during) if during else None,
                   "after_close": marks["rss_after_rounds"][0],
                   "after_close_min": min(after) if after else None,
                   "after_each_round": marks["rss_after_rounds"]},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("store", type=Path)
    p.add_argument("--sessions", type=int, default=20, help="protocol-level sessions")
    p.add_argument("--seconds", type=float, default=60, help="length of the run")
    p.add_argument("--after", type=float, default=60, help="memory watched after the run")
    p.add_argument("--num-procs", type=int, default=1, help="server processes")
    p.add_argument("--browsers", type=int, default=2, help="Chromium pages checking the views")
    p.add_argument("--think", type=float, default=1.0, help="mean pause between actions (s)")
    p.add_argument("--corpus-tab", default="Corpus", help="title of the corpus view's tab; "
                   "its action is timed when the app has it")
    p.add_argument("--rounds", type=int, default=1, help="runs of the load, each followed by "
                   "--after seconds without sessions")
    p.add_argument("--json", type=Path, help="write the results here too")
    args = p.parse_args()
    names = [f"user-{i:02d}" for i in range(args.sessions)]
    viewers = [f"viewer-{i}" for i in range(args.browsers)]
    with tempfile.TemporaryDirectory(prefix="attviz-load-") as tmp:
        root, users, access = lab(Path(tmp), args.store.resolve(), names + viewers + ["warm"])
        store_path = root / "lab" / args.store.name
        server = LabServer(root, users, access, num_procs=args.num_procs)
        sampler = Sampler(server.proc.pid)
        marks = {"rss_start": rss_mb(server.proc.pid), "allocator": in_use(server.proc.pid)}
        try:
            asyncio.run(warm_up(server.base, "warm", args.corpus_tab))
            time.sleep(40)  # the warm-up session is closed and cleaned (30 s unused + 5 s check)
            marks["rss_baseline"] = rss_mb(server.proc.pid)
            sampler.start()
            results = Results()
            marks["load"] = time.monotonic()
            marks["cpu_load"] = sampler.cpu_totals()
            for _ in range(args.rounds):  # the same load again: memory comes back to a plateau
                load = threading.Thread(target=lambda: asyncio.run(protocol_users(
                    server.base, [(n, PASSWORD) for n in names], args.seconds, args.think,
                    args.corpus_tab, results)))
                load.start()
                browsers_run(server.url, viewers, store_path, args.seconds, results)
                load.join()
                if "closed" not in marks:
                    marks["closed"], marks["cpu_closed"] = time.monotonic(), sampler.cpu_totals()
                time.sleep(args.after)
                marks.setdefault("rss_after_rounds", []).append(rss_mb(server.proc.pid))
            marks["end"] = time.monotonic()
        finally:
            sampler.stopped.set()
            server.stop()
        out = summary(results, sampler, marks, args, server.output())
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 1 if out["errors"] or out["sessions_lost"] or out["browser_wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
