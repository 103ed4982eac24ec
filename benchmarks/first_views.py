"""What a new session costs a warm server: one signed-in session after another opens the app
and shows the Corpus tab for the first time, then closes; the server's CPU milliseconds for
each open and each first corpus view (user + system of the server process, until it is
idle again; the first session, which also warms the server's caches, reported apart).

    .venv/bin/python benchmarks/first_views.py demo-data/bbc-heldout.h5 [--sessions 6]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.action_cost import Costs, on_idle_server  # noqa: E402
from benchmarks.load_bench import PASSWORD  # noqa: E402
from benchmarks.load_clients import _corpus_shows_the_slice, _tab_index  # noqa: E402
from tests.helpers.wsclient import Session, sign_in  # noqa: E402


async def sessions(base: str, proc: psutil.Process, n: int) -> Costs:
    costs = Costs(proc)
    cookie = await sign_in(base, "user-00", PASSWORD)
    for i in range(n + 1):
        s = Session(base, cookie=cookie)
        await costs.time("open" if i else "open (the first)", s, s.open(),
                         lambda s=s: s.text_with("av-instance") is not None)
        tab = _tab_index(s, "Corpus")
        await costs.time("first corpus view" if i else "first corpus view (the first)", s,
                         s.set(tab[0], "active", tab[1]),
                         lambda s=s: _corpus_shows_the_slice(s))
        await s.close()
    return costs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("store", type=Path)
    p.add_argument("--sessions", type=int, default=6)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    costs = on_idle_server(args.store, lambda base, proc: sessions(base, proc, args.sessions))
    out = {name: {"cpu_ms": sorted(round(c) for _, c in v),
                  "wall_s": sorted(round(w, 3) for w, _ in v)} for name, v in costs.seen.items()}
    for name, r in out.items():
        print(f"{name}: server CPU ms {r['cpu_ms']}, wall s {r['wall_s']}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
