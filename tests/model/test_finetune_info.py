"""attviz finetune (on a tiny base model), info and verify."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from attviz.cli import main
from attviz.precompute.finetune import split_documents
from attviz.testing import make_documents


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


def test_the_training_key_of_earlier_runs_is_unchanged():
    """A model fine-tuned before --label-names existed is reused by the same command."""
    from attviz.precompute.finetune import FinetuneConfig

    cfg = FinetuneConfig(data="d", text_column="t", label_column="l", out="o")
    assert cfg.key("0" * 64) == "ee6bec89689792013ef913f2e5b250f7"
    named = FinetuneConfig(data="d", text_column="t", label_column="l", out="o",
                           label_names="a,b")
    assert named.key("0" * 64) != cfg.key("0" * 64)


def _integer_corpus(path, labels):
    docs = make_documents(len(labels), seed=4, max_words=40)
    pd.DataFrame({"text": [t for t, _ in docs], "y": labels}).to_csv(path, index=False)
    return path


def _finetune_args(data, out, base, *extra):
    return ["finetune", "--data", str(data), "--text-column", "text", "--label-column", "y",
            "--out", str(out), "--base", str(base), "--max-train-segments", "8",
            "--max-length", "32", "--no-progress", *extra]


def test_label_names_name_integer_classes(tmp_path, tiny_model, capsys):
    data = _integer_corpus(tmp_path / "ints.csv", [0, 1] * 10)
    out = tmp_path / "model"
    assert main(_finetune_args(data, out, tiny_model, "--label-names", "negative, positive")) == 0
    assert "classes: negative, positive" in capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["id2label"] == {"0": "negative", "1": "positive"}
    assert cfg["label2id"] == {"negative": 0, "positive": 1}
    held = pd.read_csv(out / "heldout.csv")
    assert set(held["y"]) == {0, 1}  # the held-out file keeps the corpus's labels
    # and precompute maps them through the names
    store = tmp_path / "held.h5"
    assert main(["precompute", "--model", str(out), "--data", str(out / "heldout.csv"),
                 "--out", str(store), "--text-column", "text", "--label-column", "y",
                 "--max-length", "32", "--no-progress"]) == 0
    from attviz.store import Store

    with Store(store) as s:
        assert s.label_names == ["negative", "positive"]
        assert s.columns.label.tolist() == [
            int(v) for v in held["y"].to_numpy()[s.columns.document]]


@pytest.mark.parametrize("labels,names,message", [
    ([0, 1, 2] * 4, "negative,positive",
     "--label-names gives 2 names (negative,positive) but column 'y' has 3 classes (0, 1, 2)"),
    ([1, 2] * 6, "negative,positive",
     "column 'y' has class index(es) 2 outside 0..1 (one index per name of --label-names"),
    (["bad", "good"] * 6, "negative,positive",
     "--label-names is for class indices 0..n-1, but column 'y' holds names (e.g. 'bad')"),
    ([0, 1] * 6, "negative,,positive", "--label-names 'negative,,positive' has an empty name"),
    ([0, 1] * 6, "neg,neg", "--label-names names 'neg' more than once"),
])
def test_label_names_are_checked(tmp_path, tiny_model, capsys, labels, names, message):
    data = _integer_corpus(tmp_path / "c.csv", labels)
    out = tmp_path / "model"
    assert main(_finetune_args(data, out, tiny_model, "--label-names", names)) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not out.exists()


def test_a_model_that_cannot_be_loaded_is_a_one_line_error(tmp_path, tiny_store, capsys):
    missing = tmp_path / "no-model"
    assert main(["verify", str(tiny_store), "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"--model {missing}: cannot load" in err
    data = _integer_corpus(tmp_path / "c.csv", [0, 1] * 6)
    assert main(_finetune_args(data, tmp_path / "m", missing)) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"--base {missing}: cannot load" in err
