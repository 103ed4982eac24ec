"""Tiers and shared fixtures.

A test's tier is the folder it lives in: tests/unit, tests/model, tests/app, tests/browser,
tests/slurm, tests/install, tests/notebook; each folder's tests get the marker of its name
(``-m app``). A test that uses a fixture built with torch (a tiny model, a store it
precomputed) is also marked ``model``, so ``-m "not model"`` runs without torch. Helpers are
in tests/helpers/.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.paths import require_binary, require_module
from tests.helpers.stores import ODD_LABEL_NAMES, precompute_args, synth_store

TIERS = ("unit", "model", "app", "browser", "slurm", "install", "notebook")
# fixtures that run torch: a test using one (directly or through another fixture) needs it
TORCH_FIXTURES = {"tiny_model", "tiny_store", "trained_model", "ablation_store"}
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):  # noqa: ARG001
    for item in items:
        tier = Path(str(item.fspath)).resolve().relative_to(HERE).parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        if TORCH_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.model)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer, 4-head BERT classifier for labels sport/tech/business, with tokenizer."""
    from attviz.testing import save_tiny_classifier

    return save_tiny_classifier(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """40 documents of 5..300 words, columns body/topic/key (not the defaults)."""
    from attviz.testing import make_documents

    docs = make_documents(40, seed=1, max_words=300)
    path = tmp_path_factory.mktemp("corpus") / "corpus.csv"
    pd.DataFrame({
        "key": [f"d{i:03d}" for i in range(len(docs))],
        "body": [t for t, _ in docs],
        "topic": [lab for _, lab in docs],
    }).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, tiny_model, tiny_corpus) -> Path:
    """The tiny corpus precomputed with the tiny model (windows of 32, stride 4)."""
    from attviz.cli import main

    out = tmp_path_factory.mktemp("store") / "tiny.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out)) == 0
    return out


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The tiny BERT classifier trained a little (attviz.testing.train_tiny_classifier), so
    that switching some of its heads off changes predictions."""
    from attviz.testing import train_tiny_classifier

    return train_tiny_classifier(tmp_path_factory.mktemp("trained") / "model")


@pytest.fixture(scope="session")
def ablation_store(tmp_path_factory, trained_model) -> Path:
    """40 documents precomputed with --importance by the trained model; every fourth
    document's gold label is another class's, so about a quarter are misclassified."""
    from attviz.cli import main
    from attviz.testing import WORDS, make_documents

    docs = make_documents(40, seed=1, max_words=300)
    names = list(WORDS)
    folder = tmp_path_factory.mktemp("ablation")
    corpus = folder / "corpus.csv"
    pd.DataFrame({
        "key": [f"d{i:03d}" for i in range(len(docs))],
        "body": [t for t, _ in docs],
        "topic": [names[(names.index(lab) + (i % 4 == 0)) % len(names)]
                  for i, (_, lab) in enumerate(docs)],
    }).to_csv(corpus, index=False)
    out = folder / "trained.h5"
    assert main([*precompute_args(trained_model, corpus, out), "--importance"]) == 0
    return out


@pytest.fixture(scope="session")
def odd_label_store(tmp_path_factory) -> Path:
    """A synthetic store whose label names contain the cell arrow, digits and spaces."""
    import h5py
    import numpy as np


    path = tmp_path_factory.mktemp("odd") / "odd.h5"
    synth_store(path, 900, layers=2, heads=3, classes=len(ODD_LABEL_NAMES), max_tokens=24)
    with h5py.File(path, "a") as f:
        f.attrs["label_names"] = np.array(ODD_LABEL_NAMES, dtype=h5py.string_dtype())
    return path


@pytest.fixture(scope="session")
def make_synth(tmp_path_factory):
    """``make_synth(n, **kw)``: a synthetic store of ``n`` instances (:func:`synth_store`),
    written once per session for each set of arguments."""
    made: dict = {}

    def make(instances: int, **kw) -> Path:
        key = (instances, tuple(sorted(kw.items())))
        if key not in made:
            made[key] = synth_store(tmp_path_factory.mktemp("synth") / "s.h5", instances, **kw)
        return made[key]

    return make


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's) driven by Playwright."""
    require_module("playwright")
    exe = require_binary("/usr/bin/chromium", "apt-get install chromium (scripts/system-deps.sh)")
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tiny_store):
    """The explorer served on the tiny store (`panel serve apps/`), one per test module."""
    from tests.helpers.served import Server

    s = Server("--store", str(tiny_store))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory, tiny_store):
    """A store root, users file and access file of a lab (tests/helpers/lab.py)."""
    from tests.helpers.lab import make_lab

    return make_lab(tmp_path_factory.mktemp("lab"), tiny_store)


@pytest.fixture(scope="module")
def lab(lab_files):
    """`attviz serve` on ``lab_files``, one per test module."""
    from tests.helpers.lab import LabServer

    server = LabServer(*lab_files)
    yield server
    server.stop()
