"""Shared fixtures: a tiny classifier, small corpora and stores, built offline per session."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def require(what: str, available: bool, why: str) -> None:
    """Skip a test whose dependency is missing; in CI (CI=true) fail instead."""
    if available:
        return
    msg = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: a missing test dependency fails the run)")
    pytest.skip(msg)


def require_module(name: str) -> None:
    require(name, importlib.util.find_spec(name) is not None, f"pip install {name}")


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name) or (name if os.path.exists(name) else None)
    require(name, path is not None, hint)
    return path


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


def precompute_args(model: Path, data: Path, out: Path, **extra) -> list[str]:
    args = ["precompute", "--model", str(model), "--data", str(data), "--out", str(out),
            "--text-column", "body", "--label-column", "topic", "--id-column", "key",
            "--max-length", "32", "--stride", "4", "--block-size", "24", "--no-progress"]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def split_into_shards(src: Path, folder: Path, max_instances: int, cuts, *,
                      provenance: bool = True, tokenizer: bool = False) -> Path:
    """Write the store ``src`` again as shard stores in ``folder``: its parts of at most
    ``max_instances`` instances (documents kept whole), split before the part indices
    ``cuts`` (or into ``cuts`` shards, an int). Without ``provenance`` the shards carry
    none; with ``tokenizer`` they carry the store's tokenizer."""
    import numpy as np

    from attviz.store import Store, StoreMeta, StoreWriter, shard_name

    with Store(src) as s:
        parts = list(s.iter_parts(max_instances=max_instances))
        meta = s.meta if provenance else StoreMeta(s.meta.label_names, s.meta.num_layers,
                                                   s.meta.num_heads, {})
        vocab, tok = s.vocab, s.tokenizer_json() if tokenizer else None
    groups = np.array_split(np.arange(len(parts)), cuts)
    folder.mkdir(parents=True, exist_ok=True)
    for i, g in enumerate(groups):
        with StoreWriter(folder / shard_name(i, len(groups)), meta, vocab,
                         tokenizer_json=tok) as w:
            for j in g:
                w.append(parts[j])
    return folder


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory, tiny_model, tiny_corpus) -> Path:
    """The tiny corpus precomputed with the tiny model (windows of 32, stride 4)."""
    from attviz.cli import main

    out = tmp_path_factory.mktemp("store") / "tiny.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out)) == 0
    return out


ODD_LABEL_NAMES = ["a → b", "3", "x y", "a", "b → 3"]


@pytest.fixture(scope="session")
def odd_label_store(tmp_path_factory) -> Path:
    """A synthetic store whose label names contain the cell arrow, digits and spaces."""
    import h5py
    import numpy as np

    from attviz.store.synth import synthesize

    path = tmp_path_factory.mktemp("odd") / "odd.h5"
    synthesize(path, 900, layers=2, heads=3, classes=len(ODD_LABEL_NAMES), max_tokens=24,
               progress=False)
    with h5py.File(path, "a") as f:
        f.attrs["label_names"] = np.array(ODD_LABEL_NAMES, dtype=h5py.string_dtype())
    return path


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's) driven by Playwright."""
    require_module("playwright")
    exe = require_binary("/usr/bin/chromium", "apt-get install chromium (scripts/system-deps.sh)")
    from playwright.sync_api import sync_playwright

    from .test_browser import CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tiny_store):
    """The explorer served on the tiny store (`panel serve apps/`), one per test module."""
    from .test_browser import Server

    s = Server("--store", str(tiny_store))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def lab_files(tmp_path_factory, tiny_store):
    """A store root, users file and access file of a lab (tests/lab_server.py)."""
    from .lab_server import make_lab

    return make_lab(tmp_path_factory.mktemp("lab"), tiny_store)


@pytest.fixture(scope="module")
def lab(lab_files):
    """`attviz serve` on ``lab_files``, one per test module."""
    from .lab_server import LabServer

    server = LabServer(*lab_files)
    yield server
    server.stop()
