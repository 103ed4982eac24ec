"""Jupyter for the notebook tier: JupyterLab or Jupyter Notebook 7 started from a fresh virtual
environment (tests/helpers/venvs.py) on loopback, notebooks written from
code cells, a browser context from which no request leaves the machine, and page scripts that
run a notebook's cells and read their outputs."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from tests.helpers.paths import ROOT

LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
# which front end: the command, its app class (for the flag that exposes the app object to
# page scripts) and where its notebooks open
FRONT_ENDS = {
    "lab": ("lab", "LabApp", "lab/tree/"),
    "notebook": ("notebook", "JupyterNotebookApp", "notebooks/"),
}
# user settings: no news pop-up, every cell in the page (no windowing of long notebooks)
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def readme_cells() -> list[str]:
    """The code cells of the README's "In a notebook" section, one per ```python block."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^## In a notebook\n.*?(?=^## )", text, flags=re.S | re.M).group(0)
    return re.findall(r"```python\n(.+?)\n```", section, flags=re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook (nbformat 4.5) of code cells, for the kernel named python3."""
    nb = {"cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "source": c,
                     "outputs": [], "execution_count": None} for i, c in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb, indent=1))
    return path


def isolated_env(home: Path) -> dict[str, str]:
    """The environment of a Jupyter server that reads no configuration, settings, kernels or
    workspaces of this machine's user, with this tier's user settings."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                 "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR"):
        env[name] = str(home / name.lower())
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    for name, value in SETTINGS.items():
        path = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return env


class Jupyter:
    """JupyterLab (``front="lab"``) or Jupyter Notebook 7 (``"notebook"``) from ``bin_dir``,
    serving ``root`` on 127.0.0.1 at a free port with a token only the test knows."""

    def __init__(self, bin_dir: Path, root: Path, front: str = "lab") -> None:
        command, app, self._tree = FRONT_ENDS[front]
        self.port, self.token = free_port(), secrets.token_urlsafe(24)
        home = root.parent / f".jupyter-{front}-{self.port}"
        self.log_path = home / "server.log"
        home.mkdir()
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(bin_dir / "jupyter"), command, "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={root}", f"--{app}.expose_app_in_browser=True",
             "--allow-root"],
            env=isolated_env(home), cwd=root, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_up()

    def _wait_up(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            assert self.proc.poll() is None and time.time() < deadline, self.log()
            time.sleep(0.2)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def notebook_url(self, name: str) -> str:
        """Where notebook ``name`` opens (in JupyterLab: in a workspace of its own, so that a
        second page does not restore the first page's notebooks)."""
        if self._tree.startswith("lab/"):
            return self.url(f"lab/workspaces/{Path(name).stem}/tree/{name}")
        return self.url(self._tree + name)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Offline:
    """Blocks every request of a browser context that leaves this machine (anything but
    loopback, data: and blob: addresses) and keeps the addresses it blocked."""

    def __init__(self, context) -> None:
        self.blocked: list[str] = []
        self.local = 0
        context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc.rsplit(":", 1)[0] in LOOPBACK \
                or parts.hostname in LOOPBACK:
            self.local += 1
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")


# page scripts over the notebook open in the app exposed as window.jupyterapp
NOTEBOOK = "window.jupyterapp.shell.currentWidget"
KERNEL_READY = f"""() => {{
  const w = window.jupyterapp && {NOTEBOOK};
  const k = w && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel;
  return !!(k && k.connectionStatus === 'connected' && k.status === 'idle' && w.content
            && w.content.model && w.content.model.cells.length > 0);
}}"""
RUN_ALL = "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
ALL_RAN = f"""() => {{
  const w = {NOTEBOOK};
  const cells = w.content.model.cells;
  for (let i = 0; i < cells.length; i++) {{
    if (cells.get(i).type === 'code' && !cells.get(i).executionCount) return false;
  }}
  return w.sessionContext.session.kernel.status === 'idle';
}}"""
# Panel's comm manager in the page sends a change at once unless it is blocked: waiting,
# until its timeout, for the kernel to acknowledge the last message it sent. A change made
# then is buffered and goes with the next change made after the timeout (or with the
# acknowledgement), so a click is only sure to be sent while no comm is blocked. A buffer
# left over from such a wait goes out with the next change.
COMMS_STATE = """() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  const out = [];
  for (const doc of docs) {
    for (const m of doc.all_models) {
      if (!('_client_comm' in m) || !('_event_buffer' in m)) continue;
      const c = m._client_comm;
      out.push({comm: c != null, active: c ? c.active !== false : false,
                buffered: m._event_buffer.length,
                wait_ms: m._blocked ? Math.max(0, m._timeout - Date.now() + 1) : 0});
    }
  }
  return out;
}"""
COMMS_SETTLED = f"""() => {{
  const comms = ({COMMS_STATE})();
  return comms.length > 0 && comms.every(c => c.comm && c.active && c.wait_ms === 0);
}}"""
# per cell: its source, execution count and outputs (type, mime types, error name and value,
# stream name and text)
OUTPUTS = f"""() => {{
  const cells = {NOTEBOOK}.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    out.push({{source: c.sharedModel.getSource(), count: c.executionCount,
      outputs: c.outputs.toJSON().map(o => ({{type: o.output_type,
        mimes: Object.keys(o.data || {{}}), ename: o.ename || null, evalue: o.evalue || null,
        stream: o.name || null, text: Array.isArray(o.text) ? o.text.join('') : (o.text || '')
      }}))}});
  }}
  return out;
}}"""


def failures(cells: list[dict]) -> list[str]:
    """What went wrong in the cells read with ``OUTPUTS``: cells that did not run, errors, and
    text on stderr (a warning, a traceback printed by a library)."""
    found = []
    for i, c in enumerate(cells):
        if not c["count"]:
            found.append(f"cell {i} did not run: {c['source']!r}")
        for o in c["outputs"]:
            if o["type"] == "error":
                found.append(f"cell {i} {c['source']!r}: {o['ename']}: {o['evalue']}")
            elif o["type"] == "stream" and o["stream"] == "stderr" and o["text"].strip():
                found.append(f"cell {i} {c['source']!r} wrote to stderr: {o['text'][:500]}")
    return found
