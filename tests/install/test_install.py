"""A viewer-only install: `pip install .` into a fresh virtual environment, without torch,
reads stores, serves the explorer and answers the notebook API."""

from __future__ import annotations

import socket
import subprocess
import textwrap
import time
import urllib.request

import pytest

from tests.helpers.browser import CHROMIUM_ARGS
from tests.helpers.paths import ROOT, require_binary, require_module
from tests.helpers.venvs import fresh_venv

STORE = ROOT / "tests" / "data" / "store-v1.0.h5"
HEAVY = ("torch", "transformers", "tokenizers", "safetensors")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment holding `pip install .` and nothing else."""
    return fresh_venv(tmp_path_factory.mktemp("viewer") / "venv").parent


def _run(venv, *args, **kw):
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=300, **kw)


def test_fresh_install_has_no_model_libraries(venv):
    out = _run(venv, "python", "-c", "import importlib.util as u; print([m for m in "
               f"{HEAVY!r} if u.find_spec(m)])")
    assert out.returncode == 0 and out.stdout.strip() == "[]", out


def test_info_reads_the_frozen_store(venv):
    out = _run(venv, "attviz", "info", str(STORE), "--json")
    assert out.returncode == 0, out.stderr
    import json

    info = json.loads(out.stdout)
    assert info["instances"] == 14 and info["labels"] == ["neg", "pos", "mixed"]


def test_model_commands_name_the_extra(venv, tmp_path):
    for command in (["precompute", "--model", "m", "--data", "d.csv", "--out", "o.h5"],
                    ["finetune", "--data", "d.csv", "--text-column", "t", "--label-column",
                     "l", "--out", "m"], ["verify", str(STORE)]):
        out = _run(venv, "attviz", *command, cwd=tmp_path)
        assert out.returncode == 2, out
        assert "pip install 'attviz[model]'" in out.stderr and "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1, out.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_notebook_api_works(venv):
    code = textwrap.dedent(f"""
        import attviz, json, sys
        s = attviz.open({str(STORE)!r})
        a = s.attention(2)
        print(json.dumps([len(s), int(s.instances["tokens"].iloc[2]), list(a.shape),
                          s.search("café").tolist(), "torch" in sys.modules,
                          type(a).__module__.split(".")[0]]))
    """)
    out = _run(venv, "python", "-c", code)
    assert out.returncode == 0, out.stderr
    import json

    n, tokens, shape, hits, torch_loaded, kind = json.loads(out.stdout)
    assert n == 14 and shape == [tokens, 2, 2] and hits == [5] and not torch_loaded
    assert kind == "xarray"  # a plain install has xarray: the README's .sel(...) works


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.browser
def test_panel_serve_opens_the_store(venv, tmp_path):
    port = _free_port()
    log = open(tmp_path / "serve.log", "w+")
    server = subprocess.Popen(
        [str(venv / "bin" / "panel"), "serve", str(ROOT / "apps"), "--port", str(port),
         "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}",
         "--args", "--store", str(STORE)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/apps", timeout=5)
                assert page.status == 200
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, log_text(log)
                time.sleep(0.3)
        # the page in Chromium, as a person opens it: the store's tokens and count appear
        require_module("playwright")
        exe = require_binary("/usr/bin/chromium", "apt-get install chromium")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/apps")
            page.wait_for_selector(".av-tok", timeout=60000)
            count = page.locator(".av-count").first.inner_text()
            # the relations need the model libraries: one sentence says so
            page.locator(".bk-tab", has_text="Relations").click()
            status = page.locator(".av-rel-status").first
            status.filter(has_text="pip install").wait_for(timeout=60000)
            relations = status.inner_text()
            browser.close()
        assert count.split() == ["14", "of", "14", "instances"], count + log_text(log)
        assert relations.startswith("Relations need the model libraries"), relations
        assert "pip install 'attviz[model]'" in relations, relations
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def log_text(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-3000:]
