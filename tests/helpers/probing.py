"""Looking into a server process from a test: a Python started with :func:`env` loads
``helpers/probe/sitecustomize.py`` first, which writes the routes of every Tornado application
it builds and, on SIGUSR1, the modules it has imported (both to the folder named)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from .waiting import until

VARIABLE = "ATTVIZ_TEST_PROBE"
SITE = Path(__file__).resolve().parent / "probe"


def env(folder: Path) -> dict[str, str]:
    """Environment variables that make a Python process report to ``folder``."""
    path = os.pathsep.join(p for p in (str(SITE), os.environ.get("PYTHONPATH", "")) if p)
    return {VARIABLE: str(folder), "PYTHONPATH": path}


def routes(folder: Path, pid: int) -> list[tuple[str, str]]:
    """(URL pattern, handler class) of the Tornado application of process ``pid``."""
    return [tuple(r) for r in json.loads((folder / f"routes-{pid}.json").read_text())]


def modules(folder: Path, pid: int) -> set[str]:
    """The names of the modules process ``pid`` has imported, now."""
    path = folder / f"modules-{pid}.json"
    path.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    until(path.exists, "the server wrote its modules", timeout=20)
    return set(json.loads(path.read_text()))
