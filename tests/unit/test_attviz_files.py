"""AttViz files as a user of both tools meets them: every malformed file refused in one
line, what AttViz itself accepts read, aggregates AttViz adds left out and named, an empty
export refused, zeros written so AttViz's log scale can place them, files kept under the
size a browser can open, and a round trip that gives back every stored value, gold labels,
document ids and segments."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from attviz.cli import main
from tests.helpers.raw import counts

SMALLEST = float(np.float16(2.0**-24))
KEPT = ("/attention/self", "/instances/token_start", "/instances/label",
        "/instances/prediction", "/instances/probabilities", "/instances/document",
        "/instances/segment", "/documents/id/data", "/documents/id/offsets",
        "/tokens/special")
GOOD = {"text": "a b c d", "name": "doc", "sets": [
    {"name": "layer 0", "tokens": ["a", "b", "c", "d"], "attention_vectors": [
        {"name": "head 0", "vectors": [0.1, 0.2, 0.3, 0.4]},
        {"name": "head 1", "vectors": ["0.5", "0.25", "1e-3", "0"]}]},
    {"name": "layer 1", "tokens": ["a", "b", "c", "d"], "attention_vectors": [
        {"name": "head 0", "vectors": [0.4, 0.3, 0.2, 0.1]},
        {"name": "head 1", "vectors": [0.1, 0.1, 0.1, 0.1]}]}],
    "output_activations": [{"name": "x", "value": 0.75}, {"name": "y", "value": 0.25}]}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A synthetic store (documents of 4 segments, gold labels) with zeros in places."""
    from attviz.store.synth import synthesize

    path = tmp_path_factory.mktemp("attviz-files") / "syn.h5"
    synthesize(path, 40, layers=2, heads=3, classes=3, max_tokens=20, progress=False)
    with h5py.File(path, "a") as f:
        att = f["/attention/self"]
        att[0:3, 0, 1] = 0
        att[50:52, 1, 2] = 0
    return path


def run(*args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_round_trip_gives_back_values_zeros_labels_documents_and_segments(store, tmp_path,
                                                                           capsys):
    js, back = tmp_path / "all.json", tmp_path / "back.h5"
    assert run("export-attviz", str(store), "--out", str(js), capsys=capsys)[0] == 0
    docs = json.loads(js.read_text())
    first = docs[0]["sets"][0]["attention_vectors"][1]["vectors"]
    assert first[:3] == [5.9605e-08] * 3  # AttViz's log scale can place them
    assert np.float16(5.9605e-08) == SMALLEST
    assert all(v > 0 for d in docs for st in d["sets"] for vec in st["attention_vectors"]
               for v in vec["vectors"])
    assert docs[0]["attviz"]["zeros"][:3] == [[0, 1, 0], [0, 1, 1], [0, 1, 2]]
    assert {"instance", "gold", "document_id", "segment"} <= set(docs[0]["attviz"])
    assert run("import-attviz", str(js), "--out", str(back), capsys=capsys)[0] == 0
    with h5py.File(store) as a, h5py.File(back) as b:
        for name in KEPT:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
        np.testing.assert_array_equal(b["/documents/row"][()], np.arange(10))  # not in files
    assert counts(back)[2] == counts(store)[2]  # the tokens (ids follow the new vocabulary)


def test_an_export_of_nothing_is_refused(store, tmp_path, capsys):
    out = tmp_path / "none.json"
    for extra in (["--limit", "0"], ["--gold", "class_0", "--predicted", "class_0",
                                     "--misclassified-only"]):
        code, _, err = run("export-attviz", str(store), "--out", str(out), *extra,
                           capsys=capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert not out.exists() and list(tmp_path.iterdir()) == []


def test_no_file_is_larger_than_max_bytes(store, tmp_path, capsys):
    out = tmp_path / "big.json"
    code, said, _ = run("export-attviz", str(store), "--out", str(out), "--max-bytes", "20000",
                        capsys=capsys)
    assert code == 0 and not out.exists()
    files = sorted(tmp_path.glob("big-*-of-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    assert len(files) > 2 and f"in {len(files)} files" in said
    docs = []
    for f in files:
        assert f.stat().st_size <= 20000, f
        docs += json.loads(f.read_text())
    assert [d["attviz"]["instance"] for d in docs] == list(range(40))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    code, _, err = run("export-attviz", str(store), "--out", str(tmp_path / "tiny.json"),
                       "--max-bytes", "1000", capsys=capsys)
    assert code == 2 and "instance 0 alone takes" in err
    assert not list(tmp_path.glob("tiny*")) and not list(tmp_path.glob(".tiny*"))


def test_the_help_states_the_real_limit_and_the_zeros(capsys):
    with pytest.raises(SystemExit):
        main(["export-attviz", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "512 MB" in text and "--max-bytes" in text and "20,000" not in text
    assert "smallest positive float16" in text


def change(path, fn):
    doc = json.loads(json.dumps(GOOD))
    fn(doc)
    path.write_text(json.dumps([GOOD, doc]))
    return path


BAD = {
    "vectors not a list": (lambda d: d["sets"][1]["attention_vectors"][0].update(vectors=0.5),
                           "document 1, set 1, vector 0: \"vectors\" must be a list"),
    "a vector that is a list": (lambda d: d["sets"][0]["attention_vectors"].__setitem__(
        1, [0.1, 0.2, 0.3, 0.4]), "document 1, set 0, vector 1: a vector must be an object"),
    "a set that is a string": (lambda d: d["sets"].__setitem__(1, "layer 1"),
                               "document 1, set 1: a set must be an object"),
    "numeric output_activations": (lambda d: d.update(output_activations=0.75),
                                   "document 1: \"output_activations\""),
    "output_activations of numbers": (lambda d: d.update(output_activations=[0.75, 0.25]),
                                      "document 1, output activation 0"),
    "a value that is a list": (lambda d: d["sets"][0]["attention_vectors"][0].update(
        vectors=[[0.1], 0.2, 0.3, 0.4]), "document 1, set 0, vector 0: value 0"),
    "a value that is not a number": (lambda d: d["sets"][0]["attention_vectors"][0].update(
        vectors=["0.1", "x", 0, 0]), "document 1, set 0, vector 0: value 1 ('x')"),
    "too few values": (lambda d: d["sets"][0]["attention_vectors"][0].update(vectors=[0.1]),
                       "document 1, set 0, vector 0: 1 values for 4 tokens"),
    "tokens not strings": (lambda d: d["sets"][0].update(tokens=[1, 2, 3, 4]),
                           "document 1, set 0: \"tokens\""),
    "another shape": (lambda d: d["sets"].pop(), "document 1: 1 sets of 2 vectors"),
    "no output_activations": (lambda d: d.pop("output_activations"),
                              "document 1: \"output_activations\""),
    "a document that is a list": (lambda d: d.clear() or d.update(sets="x"),
                                  "document 1: \"sets\" must be a non-empty list"),
}


@pytest.mark.parametrize("what", list(BAD))
def test_each_malformed_document_is_one_line_and_writes_nothing(what, tmp_path, capsys):
    fn, words = BAD[what]
    path, out = change(tmp_path / "bad.json", fn), tmp_path / "bad.h5"
    code, _, err = run("import-attviz", str(path), "--out", str(out), capsys=capsys)
    assert code == 2 and words in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


@pytest.mark.parametrize("what,content,words", [
    ("latin-1 bytes", json.dumps([GOOD]).replace("doc", "d\u00e9c").encode("latin-1"),
     "not UTF-8 text (byte 0xe9"),
    ("not JSON", b"[{", "not JSON"),
    ("an empty list", b"[]", "holds no documents"),
    ("a number", b"3", "not a number"),
    ("a directory", None, "is a folder"),
])
def test_a_file_that_is_no_attviz_file_is_one_line(what, content, words, tmp_path, capsys):
    path = tmp_path / "bad.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    out = tmp_path / "bad.h5"
    code, _, err = run("import-attviz", str(path), "--out", str(out), capsys=capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (what, err)
    assert not out.exists()


def test_what_attviz_accepts_is_read(tmp_path, capsys):
    by_number = tmp_path / "example.json"  # AttViz's generated examples, with a BOM
    by_number.write_bytes(b"\xef\xbb\xbf" + json.dumps({"1": GOOD, "0": dict(
        GOOD, text="a b c d e")}).encode())
    out = tmp_path / "example.h5"
    assert run("import-attviz", str(by_number), "--out", str(out), capsys=capsys)[0] == 0
    with h5py.File(out) as f:
        texts = f["/instances/text/data"][()].tobytes().decode()
        assert texts == "a b c d ea b c d"  # in the order of the numbers
        np.testing.assert_array_equal(f["/attention/self"][:4, 0, 1],
                                      np.array([0.5, 0.25, 1e-3, 0], dtype=np.float16))


def test_aggregates_attviz_added_are_left_out_and_named(tmp_path, capsys):
    doc = json.loads(json.dumps(GOOD))
    doc["sets"][0]["attention_vectors"].append({"name": "0_mean", "vectors": [1, 1, 1, 1]})
    doc["sets"][1]["attention_vectors"] += [{"name": "1_max", "vectors": [1, 1, 1, 1]},
                                            {"name": "1_min", "vectors": [0, 0, 0, 0]}]
    path, out = tmp_path / "saved.json", tmp_path / "saved.h5"
    path.write_text(json.dumps([GOOD, doc]))
    code, _, err = run("import-attviz", str(path), "--out", str(out), capsys=capsys)
    assert code == 0
    assert "left out 3 vector(s)" in err and "document 1 set 0 '0_mean'" in err
    assert "'1_max'" in err and "'1_min'" in err
    with h5py.File(out) as f:
        assert f["/attention/self"].shape[1:] == (2, 2)
