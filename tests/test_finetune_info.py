"""attviz finetune (on a tiny base model), info and verify."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from attviz.cli import main
from attviz.finetune import split_documents
from attviz.testing import make_documents

pytestmark = pytest.mark.model


def test_split_is_stratified_and_seeded():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    test = split_documents(labels, 0.2, seed=3)
    assert [int(test[labels == c].sum()) for c in range(3)] == [10, 6, 4]
    assert np.array_equal(test, split_documents(labels, 0.2, seed=3))
    assert not np.array_equal(test, split_documents(labels, 0.2, seed=4))


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("ft")
    docs = make_documents(60, seed=9, max_words=60)
    docs += docs[:5]  # exact duplicates
    data = tmp / "news.csv"
    pd.DataFrame({"article": [t for t, _ in docs], "section": [lab for _, lab in docs],
                  "aid": [f"a{i}" for i in range(len(docs))]}).to_csv(data, index=False)
    out = tmp / "model"
    args = ["finetune", "--data", str(data), "--text-column", "article", "--label-column",
            "section", "--id-column", "aid", "--out", str(out), "--base", str(tiny_model),
            "--max-train-segments", "40", "--max-length", "32", "--no-progress"]
    return data, out, args


def test_finetune_writes_model_and_heldout(finetuned, capsys):
    data, out, args = finetuned
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "5 duplicates" in printed.err
    m = re.search(r"held-out segment accuracy ([\d.]+) \((\d+) segments\), document accuracy "
                  r"([\d.]+) \((\d+) documents\)", printed.out)
    assert m
    cfg = json.loads((out / "config.json").read_text())
    assert [cfg["id2label"][str(i)] for i in range(3)] == ["business", "sport", "tech"]
    held = pd.read_csv(out / "heldout.csv")
    corpus = pd.read_csv(data).drop_duplicates("article")
    assert len(held) == int(m.group(4)) == 12  # 20% of each class of 60 documents
    assert set(held["aid"]) <= set(corpus["aid"])
    assert held["article"].is_unique
    for c, n in corpus["section"].value_counts().items():
        assert (held["section"] == c).sum() == round(0.2 * n)

    # the store of the held-out split reports the accuracy finetune printed
    store = out.parent / "held.h5"
    assert main(["precompute", "--model", str(out), "--data", str(out / "heldout.csv"),
                 "--out", str(store), "--text-column", "article", "--label-column", "section",
                 "--id-column", "aid", "--max-length", "32", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["info", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert f"{info['accuracy']:.4f}" == m.group(1)
    assert info["instances"] == int(m.group(2))
    assert f"{info['document_accuracy']:.4f}" == m.group(3)
    assert info["documents"] == int(m.group(4))
    cm = np.array(info["confusion_matrix"])
    assert cm.sum() == info["labelled_instances"] and np.trace(cm) == round(
        info["accuracy"] * cm.sum())
    assert main(["info", str(store)]) == 0
    text = capsys.readouterr().out
    assert "confusion matrix" in text and "business" in text and "provenance" in text

    assert main(["verify", str(store)]) == 0
    assert "OK" in capsys.readouterr().out


def test_second_finetune_reuses_the_model(finetuned, capsys):
    _, out, args = finetuned
    if not (out / "finetune.json").exists():
        assert main(args) == 0
    before = (out / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "reusing the model" in printed.err and "[reused saved model]" in printed.out
    assert (out / "model.safetensors").stat().st_mtime_ns == before


def test_verify_detects_a_tampered_store(tmp_path, tiny_store, capsys):
    import shutil

    import h5py

    bad = tmp_path / "bad.h5"
    shutil.copy(tiny_store, bad)
    with h5py.File(bad, "a") as f:
        f["/attention/self"][5, 0, 0] += 0.25
    assert main(["verify", str(bad)]) == 1
    assert "FAILED" in capsys.readouterr().out
