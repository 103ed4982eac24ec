"""AttViz JSON: the export's schema and value types, the import of AttViz's own files
(numbers as strings), and the round trip export -> import. Expected values come from the
store file through h5py. (Malformed files, sizes, zeros: test_attviz_files.py.)"""

import json

import h5py
import numpy as np
import pytest

from attviz.cli import main
from attviz.store import open_store

DOC_KEYS = {"text", "name", "sets", "output_activations", "attviz"}
SMALLEST = np.float16(2.0**-24)  # written for a 0


def raw(path):
    with h5py.File(path, "r") as f:
        names = [x.decode() if isinstance(x, bytes) else x for x in f.attrs["label_names"]]
        start = f["/instances/token_start"][:]
        voff, vdata = f["/vocab/token/offsets"][:], f["/vocab/token/data"][:].tobytes()
        vocab = [vdata[voff[i]:voff[i + 1]].decode() for i in range(len(voff) - 1)]
        ids = f["/tokens/id"][:]
        return {"names": names, "label": f["/instances/label"][:],
                "prediction": f["/instances/prediction"][:],
                "probabilities": f["/instances/probabilities"][:],
                "attention": f["/attention/self"][:], "start": start,
                "tokens": [[vocab[t] for t in ids[start[k]:start[k + 1]]]
                           for k in range(len(start) - 1)]}


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def attviz_finds(text, tokens):
    """AttViz's viewer: each token looked up in the rest of the text after the previous one."""
    at, rest = 0, text
    for tok in tokens:
        k = rest.index(tok)  # ValueError: AttViz would misplace the token
        at += k + len(tok)
        rest = rest[k + len(tok):]
    return at


def test_export_follows_the_attviz_schema_with_its_value_types(tiny_store, tmp_path, capsys):
    r = raw(tiny_store)
    wrong = np.flatnonzero((r["label"] >= 0) & (r["label"] != r["prediction"]))
    assert len(wrong) >= 3
    out = tmp_path / "errors.json"
    assert main(["export-attviz", str(tiny_store), "--out", str(out),
                 "--misclassified-only", "--limit", "3"]) == 0
    assert "3 instance(s)" in capsys.readouterr().out
    docs = json.loads(out.read_text())
    assert isinstance(docs, list) and len(docs) == 3
    n_layers, n_heads = r["attention"].shape[1:]
    for doc, k in zip(docs, wrong[:3]):
        assert set(doc) == DOC_KEYS
        tokens = r["tokens"][k]
        assert doc["text"] == " ".join(tokens)
        attviz_finds(doc["text"], tokens)
        assert isinstance(doc["name"], str)
        assert f"instance {k}" in doc["name"] and r["names"][r["label"][k]] in doc["name"]
        assert len(doc["sets"]) == n_layers
        a, b = r["start"][k], r["start"][k + 1]
        for layer, st in enumerate(doc["sets"]):
            assert set(st) == {"tokens", "name", "attention_vectors"}
            assert st["tokens"] == tokens and all(isinstance(t, str) for t in st["tokens"])
            assert isinstance(st["name"], str) and len(st["attention_vectors"]) == n_heads
            for h, vec in enumerate(st["attention_vectors"]):
                assert set(vec) == {"name", "vectors"} and isinstance(vec["name"], str)
                assert all(is_number(v) for v in vec["vectors"])
                assert len(vec["vectors"]) == len(tokens)
                stored = r["attention"][a:b, layer, h]
                np.testing.assert_array_equal(np.array(vec["vectors"]).astype(np.float16),
                                              np.where(stored == 0, SMALLEST, stored))
        acts = doc["output_activations"]
        assert [a_["name"] for a_ in acts] == r["names"]
        assert all(set(a_) == {"name", "value"} and is_number(a_["value"]) for a_ in acts)
        np.testing.assert_array_equal(np.array([a_["value"] for a_ in acts], dtype=np.float32),
                                      r["probabilities"][k])


def test_gold_and_predicted_filters_and_limit(tiny_store, tmp_path):
    r = raw(tiny_store)
    k = np.flatnonzero(r["label"] != r["prediction"])[0]  # a cell of wrong predictions
    gi, pi = int(r["label"][k]), int(r["prediction"][k])
    g, p = r["names"][gi], r["names"][pi]
    want = np.flatnonzero((r["label"] == gi) & (r["prediction"] == pi))
    out = tmp_path / "cell.json"
    assert main(["export-attviz", str(tiny_store), "--out", str(out), "--gold", g,
                 "--predicted", p]) == 0
    docs = json.loads(out.read_text())
    assert [d["name"].split(",")[0] for d in docs] == [f"instance {k}" for k in want]
    out2 = tmp_path / "two.json"
    assert main(["export-attviz", str(tiny_store), "--out", str(out2), "--limit", "2"]) == 0
    assert [d["text"] for d in json.loads(out2.read_text())] == [" ".join(t) for t in
                                                                 r["tokens"][:2]]


def test_round_trip_keeps_tokens_values_and_probabilities(tiny_store, tmp_path):
    r = raw(tiny_store)
    js, back = tmp_path / "all.json", tmp_path / "back.h5"
    assert main(["export-attviz", str(tiny_store), "--out", str(js)]) == 0
    assert main(["import-attviz", str(js), "--out", str(back)]) == 0
    b = raw(back)
    assert b["tokens"] == r["tokens"]
    np.testing.assert_array_equal(b["attention"], r["attention"])  # float16, exactly
    np.testing.assert_array_equal(b["probabilities"], r["probabilities"])
    assert b["names"] == r["names"]
    np.testing.assert_array_equal(b["prediction"], r["probabilities"].argmax(axis=1))
    np.testing.assert_array_equal(b["label"], r["label"])  # kept in the "attviz" field
    with open_store(back) as s:
        inst = s.read_instance(4)
        # the names AttViz shows are kept (provenance lists are JSON, decoded by the reader)
        assert s.meta.provenance["attviz_json_vector_names"][0][:2] == ["head 0", "head 1"]
        assert s.meta.provenance["attviz_json_set_names"][-1] == "layer 1"
        # every token is found in the text, in order; [CLS] and [SEP] are special
        for (start, end), tok in zip(inst.spans.tolist(), inst.tokens):
            assert inst.text[start:end] == tok
        assert inst.special[0] and inst.special[-1] and not inst.special[1:-1].any()


def test_attviz_own_files_with_numbers_as_strings_are_read(tmp_path):
    doc = {"text": "barclay ##s profits hit", "sets": [{"attention_vectors": [
        {"name": 0, "vectors": ["0.5", "0.25", "1e-3", "0"]},
        {"name": 1, "vectors": [0.125, "0.75", 0.5, "0.0625"]}],
        "tokens": ["barclay", "##s", "profits", "hit"]}],
        "output_activations": [{"value": "0.2", "name": "business"},
                               {"value": "0.7", "name": "politics"},
                               {"value": 0.1, "name": "sport"}]}
    path = tmp_path / "attviz.json"
    path.write_text(json.dumps([doc, dict(doc, text="barclay ##s profits hit !")]))
    out = tmp_path / "imported.h5"
    assert main(["import-attviz", str(path), "--out", str(out)]) == 0
    b = raw(out)
    assert b["names"] == ["business", "politics", "sport"]
    assert b["tokens"] == [doc["sets"][0]["tokens"]] * 2
    np.testing.assert_array_equal(b["attention"][:4, 0, :], np.array(
        [[0.5, 0.125], [0.25, 0.75], [1e-3, 0.5], [0, 0.0625]], dtype=np.float16))
    np.testing.assert_array_equal(b["prediction"], [1, 1])
    np.testing.assert_allclose(b["probabilities"][0], [0.2, 0.7, 0.1], rtol=1e-7)
    with open_store(out) as s:
        assert s.meta.provenance["attviz_json_vector_names"] == [["0", "1"]]
        assert s.read_instance(0).spans.tolist() == [[0, 7], [8, 11], [12, 19], [20, 23]]
        assert s.read_instance(1).document_id == "1"


@pytest.mark.parametrize("change,words", [
    (lambda d: d["sets"][0]["attention_vectors"][0].update(vectors=["0.1", "x", "0", "0"]),
     "value 1 ('x') is not a number"),
    (lambda d: d["sets"][0]["attention_vectors"][0].update(vectors=[0.1]),
     "1 values for 4 tokens"),
    (lambda d: d.pop("output_activations"), "\"output_activations\" (the class"),
])
def test_bad_attviz_files_are_one_line_errors_and_write_nothing(tmp_path, capsys, change,
                                                                 words):
    doc = {"text": "a b c d", "sets": [{"tokens": ["a", "b", "c", "d"], "attention_vectors": [
        {"name": 0, "vectors": [0.1, 0.2, 0.3, 0.4]}]}],
        "output_activations": [{"name": "x", "value": 1}]}
    change(doc)
    path, out = tmp_path / "bad.json", tmp_path / "bad.h5"
    path.write_text(json.dumps([doc]))
    assert main(["import-attviz", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "document 0" in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.glob(".bad.h5*")) == []


def test_export_refuses_an_unknown_label_and_an_existing_file(tiny_store, tmp_path, capsys):
    out = tmp_path / "x.json"
    assert main(["export-attviz", str(tiny_store), "--out", str(out), "--gold", "cooking"]) == 2
    assert "--gold cooking: not a label of this store" in capsys.readouterr().err
    out.write_text("keep")
    assert main(["export-attviz", str(tiny_store), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "keep"


def test_export_and_import_need_no_model_libraries(tmp_path):
    from tests.helpers.paths import STORE_V1_0
    from tests.helpers.processes import NO_MODEL_STACK, attviz_process

    js, back = tmp_path / "frozen.json", tmp_path / "frozen.h5"
    r = attviz_process("export-attviz", str(STORE_V1_0), "--out", str(js), prelude=NO_MODEL_STACK)
    assert r.returncode == 0, r.stderr
    r = attviz_process("import-attviz", str(js), "--out", str(back), prelude=NO_MODEL_STACK)
    assert r.returncode == 0, r.stderr
    assert raw(back)["tokens"] == raw(STORE_V1_0)["tokens"]
