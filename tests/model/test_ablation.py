"""Heads switched off, against independent ways of switching them off: the head's rows of
the value projection zeroed (weights and bias), and a gate hook of 0 on the output
projection's input (tests/helpers/gating.py); the worker's slice jobs; the notebook API
and `attviz ablate` against each other."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pandas as pd
import pytest
import torch

from attviz.relations.ablation import ablate
from tests.helpers.families import build
from tests.helpers.gating import gated_logits, zero_value_rows

LENGTHS = [17, 5, 30, 9, 30, 2, 12]


def _ids(seed: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(5, 100, size=n).astype(np.int64) for n in LENGTHS]


def _alone(model, ids) -> np.ndarray:
    with torch.no_grad():
        return np.stack([torch.softmax(model(input_ids=torch.tensor(x)[None]).logits[0], -1)
                         .numpy() for x in ids])


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_ablation_equals_zeroed_value_rows(family):
    torch.manual_seed(4)
    model = build(family)
    with torch.no_grad():  # make the heads matter: larger attention outputs
        for p in model.parameters():
            p.mul_(3.0)
    heads = [(0, 1), (1, 3)]
    ids = _ids()
    got = ablate(copy.deepcopy(model), ids, heads, batch_size=3)  # padded batches
    ref = copy.deepcopy(model)
    for layer, head in heads:
        zero_value_rows(ref, layer, head)
    want = _alone(ref, ids)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert np.abs(want - _alone(model, ids)).max() > 1e-4  # the heads did something
    np.testing.assert_allclose(ablate(model, ids, [], batch_size=3), _alone(model, ids),
                               atol=2e-6)  # nothing off: the model itself


@pytest.mark.parametrize("family", ["llama", "gemma2", "albert"])
def test_ablation_equals_a_zero_gate_hook(family):
    """Grouped key/value heads (Llama), soft-capping through the model's own eager
    attention (Gemma2), one layer shared by every layer (ALBERT)."""
    torch.manual_seed(5)
    model = build(family)
    heads = [(0, 2), (1, 0)]
    ids = _ids()
    got = ablate(copy.deepcopy(model), ids, heads, batch_size=4)
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    gates = torch.ones((2, 4))
    for layer, head in heads:
        gates[layer, head] = 0
    with torch.no_grad():
        want = np.stack([torch.softmax(gated_logits(ref, x, gates), -1).numpy() for x in ids])
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_models_without_the_attention_interface_refuse():
    from attviz.precompute.extract.gates import CannotGate

    with pytest.raises(CannotGate, match="cannot be switched off"):
        ablate(build("deberta-v2"), _ids()[:2], [(0, 0)])


# -- the store's model: the worker, the notebook API, the command line ----------------------
@pytest.fixture(scope="module")
def corpus(ablation_store):
    import attviz

    with attviz.open(ablation_store) as c:
        yield c


LAYER_1 = [(1, h) for h in range(4)]
ALL = [(layer, h) for layer in range(2) for h in range(4)]


def test_api_equals_the_model_alone_and_keeps_the_order(corpus, trained_model):
    from transformers import AutoModelForSequenceClassification

    picks = [9, 3, 9, 0]
    got = corpus.ablate(picks, LAYER_1)
    assert got.shape == (4, 3)
    np.testing.assert_array_equal(got[0], got[2])
    ref = AutoModelForSequenceClassification.from_pretrained(trained_model,
                                                             attn_implementation="eager")
    gates = torch.ones((2, 4))
    gates[1] = 0
    for row, k in zip(got, picks):
        ids = corpus.instance(k).token_ids
        with torch.no_grad():
            want = torch.softmax(gated_logits(ref.eval(), ids, gates), -1).numpy()
        np.testing.assert_allclose(row, want, atol=2e-6)
    np.testing.assert_allclose(corpus.ablate(5, []), corpus.store.columns.probabilities[[5]],
                               atol=1e-5)  # nothing off: the stored probabilities
    with pytest.raises(ValueError, match="no head"):
        corpus.ablate(0, [(2, 0)])
    with pytest.raises(IndexError):
        corpus.ablate(len(corpus), LAYER_1)


def test_head_stats_as_a_data_array(corpus):
    imp = corpus.head_stats("importance")
    assert imp.dims == ("instances", "layers", "heads")
    assert imp.shape == (len(corpus), 2, 4)
    np.testing.assert_array_equal(imp["layers"].values, [0, 1])
    np.testing.assert_array_equal(imp.values, corpus.store.read_head_stat("importance"))
    assert "importance" in corpus.head_stat_names


def test_head_stats_of_a_store_without_importance(tiny_store):
    import attviz
    from attviz.store import StoreError

    with attviz.open(tiny_store) as c, pytest.raises(StoreError, match="--importance"):
        c.head_stats("importance")


def test_ablate_command_writes_what_the_api_gives(ablation_store, corpus, tmp_path, capsys):
    from attviz.cli import main

    out = tmp_path / "changes.csv"
    # every head off: each token sees only itself, the prediction is the same for all, so
    # many change whatever the trained weights
    assert main(["ablate", str(ablation_store), "--layer-off", "1", "--heads", "0.0,0.1 0.2",
                 "--heads", "0.3", "--out", str(out), "--no-progress", "--batch-size", "5"]
                ) == 0
    assert "prediction(s) changed" in capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["instance", "document", "segment", "gold",
                                   "stored_prediction", "stored_probability",
                                   "new_prediction", "new_probability", "changed"]
    n = len(corpus)
    np.testing.assert_array_equal(table["instance"], np.arange(n))
    probs = corpus.ablate(np.arange(n), ALL)
    names = corpus.label_names
    new = probs.argmax(1)
    assert table["new_prediction"].tolist() == [names[k] for k in new]
    np.testing.assert_allclose(table["new_probability"], probs[np.arange(n), new], atol=1e-6)
    frame = corpus.instances
    assert table["stored_prediction"].tolist() == frame["predicted"].astype(str).tolist()
    assert table["document"].tolist() == frame["document"].tolist()
    assert table["changed"].tolist() == (new != corpus.store.columns.prediction).tolist()
    assert len(set(new)) == 1 and table["changed"].any()

    errors = tmp_path / "errors.csv"
    assert main(["ablate", str(ablation_store), "--heads", "1.2", "--misclassified-only",
                 "--limit", "5", "--out", str(errors), "--no-progress"]) == 0
    rows = pd.read_csv(errors, keep_default_na=False)
    wrong = np.flatnonzero(frame["correct"] == False)[:5]  # noqa: E712 - nullable boolean
    np.testing.assert_array_equal(rows["instance"], wrong)


def test_ablate_command_names_bad_heads(ablation_store, tmp_path, capsys):
    from attviz.cli import main

    assert main(["ablate", str(ablation_store), "--heads", "7.1", "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "--heads 7.1" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_slice_jobs_let_other_requests_through_and_stop_when_cancelled(ablation_store,
                                                                      corpus):
    """Batches of a slice are tasks of their own: a request submitted meanwhile runs before
    the slice ends; a cancelled slice stops before its next batch."""
    from attviz.relations.service import AblationRequest, RelationsService

    svc = RelationsService()
    prov = dict(corpus.store.meta.provenance)
    near = str(ablation_store.parent)
    ids = [corpus.instance(k).token_ids for k in range(len(corpus))]
    order: list[str] = []
    first = threading.Event()

    def progress(done, total):
        first.set()

    slow = svc.submit_ablation(AblationRequest(prov, ids, LAYER_1, 2, near=near,
                                               progress=progress),
                               lambda out: order.append("slice"))
    assert first.wait(60)
    quick = svc.submit_ablation(AblationRequest(prov, ids[:1], LAYER_1, 1, near=near),
                                lambda out: order.append("instance"))
    quick.result(timeout=60)
    outcome = slow.result(timeout=120)
    assert order == ["instance", "slice"]
    np.testing.assert_allclose(outcome.ablation.probabilities,
                               corpus.ablate(np.arange(len(corpus)), LAYER_1), atol=1e-6)

    stop = threading.Event()
    steps = []

    def count(done, total):
        steps.append(done)
        stop.set()

    job = svc.submit_ablation(AblationRequest(prov, ids, LAYER_1, 2, near=near, progress=count,
                                              current=lambda: not stop.is_set()),
                              lambda out: order.append("cancelled?"))
    assert job.result(timeout=60) is None
    assert len(steps) == 1 and order[-1] == "slice"
