"""The notebook tier's environment: one fresh virtual environment per session holding
``pip install . jupyterlab`` (this working tree), a folder holding the README's store path
and its notebooks, and the README's notebook cells.

The store at ``demo-data/bbc-heldout.h5`` is synthetic (300 instances, 6 layers x 4 heads:
what the README's cells ask of it); ``ATTVIZ_NOTEBOOK_STORE=PATH`` puts another store there
(the BBC demo's, for the README's screenshot: ``ATTVIZ_NOTEBOOK_SCREENSHOT=PATH``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.jupyter import readme_cells, write_notebook
from tests.helpers.venvs import fresh_venv

STORE = "demo-data/bbc-heldout.h5"  # as the README's cells name it


@pytest.fixture(scope="session")
def nb_bin(tmp_path_factory) -> Path:
    """The bin folder of a fresh ``pip install . jupyterlab``."""
    return fresh_venv(tmp_path_factory.mktemp("notebook") / "venv", "jupyterlab")


@pytest.fixture(scope="session")
def nb_root(tmp_path_factory, nb_bin) -> Path:
    """The folder Jupyter serves: the store where the README's cells look for it."""
    root = tmp_path_factory.mktemp("notebooks") / "root"
    store = root / STORE
    store.parent.mkdir(parents=True)
    given = os.environ.get("ATTVIZ_NOTEBOOK_STORE")
    if given:
        shutil.copyfile(given, store)
    else:
        subprocess.run([str(nb_bin / "attviz"), "synth", "--instances", "300", "--layers", "6",
                        "--heads", "4", "--classes", "3", "--tokens", "40", "--out", str(store)],
                       check=True, capture_output=True)
    return root


@pytest.fixture(scope="session")
def readme_notebook(nb_root) -> Path:
    """The README's cells, then a second explorer of the same store."""
    cells = readme_cells()
    assert cells and "attviz.explorer" in cells[-1], cells
    return write_notebook(nb_root / "readme.ipynb", [*cells, f'attviz.explorer("{STORE}")'])


@pytest.fixture(scope="session")
def expected(nb_root) -> dict:
    """What the explorer should count: instances, and misclassified ones."""
    import attviz

    with attviz.open(nb_root / STORE) as s:
        df = s.instances
        return {"total": len(df), "wrong": int((df["correct"] == False).sum())}  # noqa: E712
