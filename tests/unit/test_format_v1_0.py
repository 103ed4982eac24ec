"""The frozen format-1.0 store in tests/data is read by this attviz, with the right values.

Written by tests/data/make_store_v1_0.py; the expected values beside it come from the model
run eagerly, not from the store.
"""

import json
import unicodedata

import h5py
import numpy as np

from attviz.cli.info import summary
from attviz.store import Store
from tests.helpers.paths import ROOT

DATA = ROOT / "tests" / "data"
STORE = DATA / "store-v1.0.h5"


def _fold(text: str) -> str:
    """Lower case without accents, as the BERT normaliser of the tiny tokenizer does."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower())
                   if unicodedata.category(c) != "Mn")


def _expected():
    return json.loads((DATA / "store-v1.0.expected.json").read_text())


def test_v1_0_root_attributes_with_plain_h5py():
    with h5py.File(STORE, "r") as f:
        assert f.attrs["format"] == "attviz"
        assert f.attrs["format_version"] == "1.0"
        assert [x.decode() if isinstance(x, bytes) else x for x in f.attrs["label_names"]] == \
            ["neg", "pos", "mixed"]


def test_v1_0_values_match_the_model():
    exp = _expected()
    with Store(STORE) as s:
        assert s.meta.label_names == exp["label_names"]
        assert (s.meta.num_layers, s.meta.num_heads) == (exp["num_layers"], exp["num_heads"])
        assert s.n_instances == len(exp["instances"])
        insts = s.read_instances(np.arange(s.n_instances))
        names = s.label_names
        for inst, want, label in zip(insts, exp["instances"], exp["labels"]):
            assert inst.document_id == want["document_id"]
            assert inst.segment == want["segment"]
            assert inst.token_ids.tolist() == want["token_ids"]
            assert inst.tokens == want["tokens"]
            np.testing.assert_allclose(inst.attention, np.array(want["attention"]), atol=1e-3)
            np.testing.assert_allclose(inst.probabilities, want["probabilities"], atol=1e-5)
            assert inst.label == (-1 if label is None else names.index(label))
            doc_text = exp["texts"][int(want["document_id"].split("-")[1])]
            assert inst.text in doc_text
            for (a, b), tok, sp in zip(inst.spans, inst.tokens, inst.special):
                if sp:
                    assert (a, b) == (-1, -1)
                elif tok != "[UNK]":
                    assert _fold(inst.text[a:b]) == tok.removeprefix("##")


def test_v1_0_html_and_unicode_text_survive():
    with Store(STORE) as s:
        texts = s.texts(np.arange(s.n_instances))
        joined = " ".join(texts)
        assert "<b>£5</b>" in joined and "ünïcödé" in joined
        assert s.search_text("<B>£5").sum() >= 1


def test_v1_0_summary():
    with Store(STORE) as s:
        info = summary(s)
    assert info["instances"] == 14 and info["documents"] == 6
    assert info["labelled_instances"] == sum(lab is not None for lab in _expected()["labels"])
    assert sum(map(sum, info["confusion_matrix"])) == info["labelled_instances"]
