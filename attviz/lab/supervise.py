"""The supervisor of a server of several processes: `python -m attviz.lab.supervise CMD...`
runs CMD in a process group of its own and passes SIGTERM, SIGINT and SIGHUP on to the whole
group, because the processes Bokeh forks for --num-procs outlive their parent when only it
is signalled. A process of its own, importing nothing else, so that it stays small."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


def supervise(cmd: list[str]) -> int:
    """Run ``cmd`` until it ends; its exit status (128 + N when signal N ended it)."""
    child = subprocess.Popen(cmd, start_new_session=True)

    def forward(signum, frame):  # noqa: ARG001
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    code = child.wait()
    with contextlib.suppress(ProcessLookupError):  # forked processes the parent left behind
        os.killpg(child.pid, signal.SIGTERM)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
