"""The README's notebook section, for real: a fresh ``pip install . jupyterlab``, JupyterLab
(and Jupyter Notebook 7) on loopback, the README's cells run in headless Chromium with every
request that leaves 127.0.0.1 blocked, and the explorer they show used as a person does.
Also ``attviz.explorer(path).show()`` from a script and ``panel serve`` of a notebook."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.helpers.jupyter import (
    ALL_RAN,
    COMMS_SETTLED,
    COMMS_STATE,
    KERNEL_READY,
    OUTPUTS,
    RUN_ALL,
    Jupyter,
    Offline,
    failures,
    free_port,
    readme_cells,
    write_notebook,
)
from tests.helpers.paths import ROOT
from tests.helpers.venvs import pip_install, source_of
from tests.helpers.waiting import until
from tests.helpers.ws_frames import Frames

STORE = "demo-data/bbc-heldout.h5"
README_EXPLORER, SECOND_EXPLORER = len(readme_cells()) - 1, len(readme_cells())
CELLS_TIMEOUT = 120_000  # ms: a cold kernel imports Panel, HoloViews and Bokeh on 2 cores


class NotebookPage:
    """A notebook opened in a Jupyter front end in an offline browser context, all its cells
    run; ``explorer(i)`` scopes locators to the output of code cell ``i``."""

    def __init__(self, browser, jupyter: Jupyter, name: str, width: int = 1500) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 1000})
        self.offline = Offline(self.context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.goto(jupyter.notebook_url(name))
        self.page.wait_for_function(KERNEL_READY, timeout=60_000)
        # errors of the front end's own start (Notebook 7.6 throws one reading its settings
        # for any notebook) are not the cells'
        self.errors.clear()
        self.page.evaluate(RUN_ALL)
        self.page.wait_for_function(ALL_RAN, timeout=CELLS_TIMEOUT, polling=200)
        self.cells = self.page.evaluate(OUTPUTS)

    def explorer(self, cell: int):
        return self.page.locator(".jp-CodeCell").nth(cell).locator(".jp-OutputArea")

    def wait_text(self, cell: int, selector: str, text: str, timeout: float = 30) -> None:
        from playwright.sync_api import expect

        expect(self.explorer(cell).locator(selector).first).to_contain_text(
            text, use_inner_text=True, timeout=timeout * 1000)

    def settled(self, timeout: float = 30) -> None:
        """Until the explorers' comms with the kernel can send a change at once."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(COMMS_SETTLED, timeout=timeout * 1000, polling=100)
        except PlaywrightTimeout:
            raise AssertionError(f"the explorers' comms never settled: "
                                 f"{self.page.evaluate(COMMS_STATE)}") from None

    def close(self) -> None:
        self.context.close()


def count(n: int, total: int) -> str:
    return f"{n:,} of {total:,} instances"


@pytest.fixture(scope="module")
def lab(nb_bin, nb_root, readme_notebook):
    server = Jupyter(nb_bin, nb_root, "lab")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lab_page(browser, lab, readme_notebook):
    page = NotebookPage(browser, lab, readme_notebook.name)
    yield page
    page.close()


def test_readme_cells_run_in_jupyterlab_without_errors(lab_page, lab):
    assert failures(lab_page.cells) == [], lab.log()
    # what the cells show: the groupby, the attention series, the head means, the explorer
    kinds = [{m for o in c["outputs"] for m in o["mimes"]} for c in lab_page.cells]
    assert all("text/plain" in k for k in kinds[:4]), kinds
    assert "application/vnd.holoviews_exec.v0+json" in kinds[README_EXPLORER]
    assert lab_page.offline.blocked == []


def test_explorer_renders_whole_and_filters_offline(lab_page, expected):
    total, wrong = expected["total"], expected["wrong"]
    p = lab_page
    for cell in (README_EXPLORER, SECOND_EXPLORER):
        p.wait_text(cell, ".av-count", count(total, total))
        p.wait_text(cell, ".av-instance", "instance 0 ")
        out = p.explorer(cell)
        out.locator(".av-tok").first.wait_for()  # the coloured text
        out.locator(".av-table-row").first.wait_for()  # the instance table
        out.locator("canvas").first.wait_for()  # a Bokeh figure
        # the sentence for front ends that cannot run the explorer is gone
        assert out.locator(".av-cannot-run").count() == 0
    p.settled()
    # ticking "misclassified only" in the first explorer changes its count, not the second's
    box = p.explorer(README_EXPLORER).locator(".bk-Checkbox", has_text="misclassified only")
    box.locator("input[type=checkbox]").check()
    p.wait_text(README_EXPLORER, ".av-count", count(wrong, total))
    assert wrong < total
    p.wait_text(SECOND_EXPLORER, ".av-count", count(total, total))
    # a row of the second explorer's table selects that instance there
    p.explorer(SECOND_EXPLORER).locator(".av-table-row").nth(5).click()
    p.wait_text(SECOND_EXPLORER, ".av-instance", "instance 5 ")
    # the Corpus tab summarises the first explorer's filtered slice
    p.explorer(README_EXPLORER).locator(".bk-tab", has_text="Corpus").click()
    p.wait_text(README_EXPLORER, ".av-corpus-summary", count(wrong, total), timeout=60)
    # a plain install has no model libraries: the Relations tab says so
    p.explorer(SECOND_EXPLORER).locator(".bk-tab", has_text="Relations").click()
    p.wait_text(SECOND_EXPLORER, ".av-rel-status", "pip install 'attviz[model]'")
    assert p.offline.blocked == [] and p.offline.local > 0, "\n".join(p.offline.blocked)
    assert p.errors == []
    screenshot(p)


def screenshot(p: NotebookPage) -> None:
    """With ATTVIZ_NOTEBOOK_SCREENSHOT=PATH: JupyterLab showing the README's last cells and
    the explorer (the left panel closed), saved as a PNG at PATH."""
    path = os.environ.get("ATTVIZ_NOTEBOOK_SCREENSHOT")
    if not path:
        return
    page = p.page
    page.set_viewport_size({"width": 1600, "height": 1150})
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    p.explorer(README_EXPLORER).locator(".bk-tab", has_text="Instance").click()
    page.locator(".jp-CodeCell").nth(README_EXPLORER - 1).scroll_into_view_if_needed()
    page.evaluate(f"""() => {{
      const cell = document.querySelectorAll('.jp-CodeCell')[{README_EXPLORER - 1}];
      cell.scrollIntoView({{block: 'start'}});
    }}""")
    page.mouse.move(0, 0)
    out = p.explorer(README_EXPLORER)
    out.locator(".av-tok").first.wait_for(state="visible")
    out.locator("canvas").first.wait_for(state="visible")
    page.screenshot(path=path)


def test_cannot_run_sentence_shows_where_no_script_runs(browser, lab_page):
    """The explorer's saved output opened where no script runs (a viewer of notebooks):
    the cell says what to do."""
    html = lab_page.page.evaluate(f"""() => {{
      const c = window.jupyterapp.shell.currentWidget.content.model.cells.get({README_EXPLORER});
      return c.outputs.toJSON().find(o => o.output_type === 'execute_result').data['text/html'];
    }}""")
    context = browser.new_context(java_script_enabled=False)
    offline = Offline(context)
    page = context.new_page()
    page.set_content(html)
    note = page.locator(".av-cannot-run")
    note.wait_for(state="visible", timeout=15_000)
    text = note.inner_text()
    assert "pip install jupyterlab" in text and ".show()" in text and text.count(". ") == 0
    context.close()
    assert offline.blocked == []


def test_readme_cells_run_in_jupyter_notebook_7(browser, nb_bin, nb_root, readme_notebook,
                                                expected):
    pip_install(nb_bin, "notebook")
    server = Jupyter(nb_bin, nb_root, "notebook")
    try:
        p = NotebookPage(browser, server, readme_notebook.name)
        assert failures(p.cells) == [], server.log()
        total, wrong = expected["total"], expected["wrong"]
        for cell in (README_EXPLORER, SECOND_EXPLORER):
            p.wait_text(cell, ".av-count", count(total, total))
            p.explorer(cell).locator(".av-table-row").first.wait_for()
        p.settled()
        box = p.explorer(SECOND_EXPLORER).locator(".bk-Checkbox", has_text="misclassified only")
        box.locator("input[type=checkbox]").check()
        p.wait_text(SECOND_EXPLORER, ".av-count", count(wrong, total))
        p.wait_text(README_EXPLORER, ".av-count", count(total, total))
        assert p.offline.blocked == [] and p.errors == []
        p.close()
    finally:
        server.stop()


class Served:
    """A process in ``cwd`` from the fresh environment that serves an explorer on ``port``."""

    def __init__(self, command: list[str], cwd: Path, port: int) -> None:
        self.port = port
        self.log_path = cwd / f"served-{port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        # `.show()` opens a browser tab through Python's webbrowser: here a no-op command
        self.proc = subprocess.Popen(command, cwd=cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, BROWSER="true"))

        def up() -> bool:
            assert self.proc.poll() is None, self.log()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            except urllib.error.HTTPError:
                return True  # answers (a 404 at / is an answer)
            except OSError:
                return False
            return True

        until(up, f"the server on port {port} answers", timeout=90, on_fail=self.log)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self._log.close()


def check_served_page(browser, url: str, expected: dict, log) -> None:
    """The explorer at ``url`` in an offline browser context: whole, and its filter works."""
    total, wrong = expected["total"], expected["wrong"]
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    offline = Offline(context)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    frames = Frames(page)  # explains a "reference pNNNN isn't known", should one come
    page.goto(url)
    from playwright.sync_api import expect

    expect(page.locator(".av-count").first).to_contain_text(count(total, total), timeout=60_000)
    page.locator(".av-table-row").first.wait_for()
    page.locator(".bk-Checkbox", has_text="misclassified only").locator(
        "input[type=checkbox]").check()
    expect(page.locator(".av-count").first).to_contain_text(count(wrong, total))
    context.close()
    assert offline.blocked == [] and errors == [], f"{errors}\n{frames.explain(errors)}\n{log()}"
    # the server's messages in the order it made them
    assert frames.late() == [], frames.patches()


def test_show_serves_a_browser_tab_from_a_script(browser, nb_bin, nb_root, expected):
    port = free_port()
    script = nb_root / "show_explorer.py"
    script.write_text(f"import attviz\nattviz.explorer({STORE!r}).show(port={port})\n")
    served = Served([str(nb_bin / "python"), script.name], nb_root, port)
    try:
        check_served_page(browser, f"http://localhost:{port}/", expected, served.log)
    finally:
        served.stop()


def test_panel_serve_of_a_notebook_that_calls_it(browser, nb_bin, nb_root, expected):
    cells = [readme_cells()[0], f"attviz.explorer({STORE!r}).servable()"]
    nb = write_notebook(nb_root / "explore.ipynb", cells)
    port = free_port()
    served = Served([str(nb_bin / "panel"), "serve", nb.name, "--port", str(port),
                     "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
                    nb_root, port)
    try:
        check_served_page(browser, f"http://127.0.0.1:{port}/explore", expected, served.log)
    finally:
        served.stop()


def test_relations_in_a_notebook_with_the_model_extra(browser, nb_bin, nb_root, lab,
                                                      tiny_store):
    """With ``pip install '.[model]'`` the Relations tab re-runs the store's model from the
    kernel and checks the stored diagonal (last here: it adds torch to the shared venv; the
    running JupyterLab starts a new kernel, which finds it). The notebook loaded HoloViews'
    extension itself first, from the CDN, as notebooks written for HoloViews do."""
    constraints = [] if shutil.which("nvidia-smi") else ["-c", str(ROOT / "constraints-cpu.txt")]
    pip_install(nb_bin, *constraints, f"{source_of(nb_bin)}[model]")
    nb = write_notebook(nb_root / "relations.ipynb",
                        ['import holoviews as hv\nhv.extension("bokeh")\nimport attviz',
                         f"attviz.explorer({str(tiny_store)!r})"])
    p = NotebookPage(browser, lab, nb.name)
    assert failures(p.cells) == [], lab.log()
    p.explorer(1).locator(".av-count").first.wait_for()
    p.settled()
    p.explorer(1).locator(".bk-tab", has_text="Relations").click()
    p.wait_text(1, ".av-rel-status", "matches the store (max difference", timeout=90)
    # HoloViews' own load asked the CDN and was refused; every blocked address is one its
    # output names: the explorer asked for none
    first = p.page.evaluate("""() => JSON.stringify(window.jupyterapp.shell.currentWidget
        .content.model.cells.get(0).outputs.toJSON())""")
    assert all(unquote(u) in first for u in p.offline.blocked), p.offline.blocked
    assert not [e for e in p.errors if "cdn." not in e and "net::" not in e], p.errors
    p.close()
