"""The memory allocator of a lab server's processes (`attviz serve --allocator`).

Python's own small-object allocator gives a 1 MiB arena back only when every object in it
is gone. A server's sessions fill new arenas, and the few objects that outlive them
(timers, cache entries, strings the interpreter keeps) stay scattered over those arenas:
after twenty sessions came and went, a server held 1.3-1.4x the memory it had after one,
most of it empty 16 KiB pools (docs/benchmarks.md, section 8). jemalloc gives memory back
page by page, so with it, Python's allocations go straight to jemalloc
(``PYTHONMALLOC=malloc``), and a background thread gives back pages unused for a few
seconds (``MALLOC_CONF``); the server then holds ~1.05x its one-session memory, for ~3%
more CPU. The library is Debian's ``libjemalloc2`` (other systems: ``jemalloc``).

``auto`` (the default) uses jemalloc when the system has it, else Python's own allocator;
``jemalloc`` insists on it; ``python`` keeps Python's own. The choice goes into the
environment of the server processes, which are started anew (``LD_PRELOAD`` is read when a
process starts).
"""

from __future__ import annotations

import ctypes.util
import os
from pathlib import Path

from ..errors import UserError

CHOICES = ("auto", "jemalloc", "python")
# Pages unused for 5 s are given back by jemalloc's own thread, even on an idle server.
MALLOC_CONF = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0"
_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
         "/usr/local/lib", "/opt/homebrew/lib")


def find_jemalloc() -> str | None:
    """The path of the jemalloc shared library, or None."""
    for folder in _DIRS:
        for name in ("libjemalloc.so.2", "libjemalloc.so"):
            if (Path(folder) / name).is_file():
                return str(Path(folder) / name)
    name = ctypes.util.find_library("jemalloc")  # other places the loader knows
    return name if name and name.endswith((".so", ".so.2")) else None


def allocator_env(choice: str, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """``env`` with what ``choice`` needs, and a line saying which allocator is used; raise
    :class:`UserError` when ``jemalloc`` is asked for and missing."""
    if choice not in CHOICES:
        raise UserError(f"--allocator {choice}: choose one of {', '.join(CHOICES)}")
    out = dict(env)
    if choice == "python":
        return out, "Python's own allocator (--allocator python)"
    lib = find_jemalloc()
    if lib is None:
        if choice == "jemalloc":
            raise UserError("--allocator jemalloc: no libjemalloc found; install it (Debian: "
                            "apt-get install libjemalloc2) or pass --allocator python")
        return out, ("Python's own allocator: no libjemalloc found, so memory of closed "
                     "sessions is given back only in part (Debian: apt-get install "
                     "libjemalloc2)")
    preload = [p for p in out.get("LD_PRELOAD", "").split() if p]
    if lib not in preload:
        out["LD_PRELOAD"] = " ".join([lib, *preload])
    out["PYTHONMALLOC"] = "malloc"
    out.setdefault("MALLOC_CONF", MALLOC_CONF)  # a setting of the user's own wins
    return out, f"jemalloc ({lib}): memory of closed sessions is given back"


def in_use(pid: int | None = None) -> str:
    """Which allocator a running process uses: ``jemalloc`` when the library is mapped into
    it, else ``python`` (Linux: read from /proc)."""
    maps = Path(f"/proc/{pid or os.getpid()}/maps")
    try:
        text = maps.read_text()
    except OSError:
        return "unknown"
    return "jemalloc" if "libjemalloc" in text else "python"
