"""Relations computed by re-running the model: maps, diagonals, rollout and gradient-weighted
rollout against a direct computation from transformers' eager attention maps (written out
here with full matrix products), and finding the store's model on a server."""

import shutil
import threading

import numpy as np
import pytest

from attviz.relations import models as M
from attviz.relations.service import RelationsService, Request
from attviz.store import open_store
from tests.helpers.reference import reference


@pytest.fixture(scope="module")
def instance(tiny_store):
    with open_store(tiny_store) as s:
        k = int(np.argmax(np.diff(s.columns.token_start)))  # the longest instance
        return s.read_instance(k), dict(s.meta.provenance)


def test_maps_rollouts_and_diagonal_match_a_direct_computation(tiny_model, instance):
    from attviz.relations.compute import run

    inst, prov = instance
    model = M.load(M.locate(prov))
    maps, roll, grad_roll, probs, cls = reference(tiny_model, inst.token_ids)
    rel = run(model, inst.token_ids, layer=1, gradient=True)
    assert rel.row == 0 and not rel.causal and rel.target == cls
    np.testing.assert_allclose(rel.maps, maps[1], atol=1e-6)
    np.testing.assert_allclose(rel.maps.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rel.rollout, roll, atol=1e-6)
    np.testing.assert_allclose(rel.gradient, grad_roll, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rel.probabilities, probs, atol=1e-6)
    # the diagonal of every layer, and the store's values within float16
    want = np.stack([np.diagonal(m, axis1=-2, axis2=-1) for m in maps]).transpose(2, 0, 1)
    np.testing.assert_allclose(rel.diagonal, want, atol=1e-6)
    assert np.abs(rel.diagonal - inst.attention).max() < 1e-3
    # another class, and no gradient when not asked for
    other = (cls + 1) % len(probs)
    _, _, grad_other, _, _ = reference(tiny_model, inst.token_ids, cls=other)
    rel2 = run(model, inst.token_ids, layer=0, target=other, gradient=True)
    np.testing.assert_allclose(rel2.gradient, grad_other, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(rel2.maps, maps[0], atol=1e-6)
    assert not np.allclose(grad_other, grad_roll)
    plain = run(model, inst.token_ids, layer=1)
    assert plain.gradient is None and plain.target is None
    np.testing.assert_allclose(plain.rollout, roll, atol=1e-6)


def test_a_causal_model_rolls_out_from_its_last_token(tmp_path):
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from attviz.relations.compute import run

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     num_labels=3, pad_token_id=0)
    GPT2ForSequenceClassification(cfg).save_pretrained(tmp_path / "gpt")
    model = M.load(M.ModelSource(str(tmp_path / "gpt")))
    ids = np.array([5, 9, 13, 2, 44, 7, 30])
    maps, roll, grad_roll, _, _ = reference(tmp_path / "gpt", ids, last_row=True)
    assert np.allclose(np.triu(maps, 1), 0)
    rel = run(model, ids, layer=1, gradient=True)
    assert rel.causal and rel.row == len(ids) - 1
    np.testing.assert_allclose(rel.rollout, roll, atol=1e-6)
    np.testing.assert_allclose(rel.gradient, grad_roll, rtol=1e-4, atol=1e-7)


def test_the_model_is_found_where_it_moved_and_refused_when_its_weights_differ(
        tiny_model, instance, tmp_path):
    _, prov = instance
    assert M.locate(prov).name == str(tiny_model)
    moved = dict(prov, model=str(tmp_path / "gone" / "model"))
    with pytest.raises(M.Unavailable, match="is not on this server: point --model-root"):
        M.locate(moved)
    # a relative name from another working folder: found beside the store
    relative = dict(prov, model=f"demo/{tiny_model.name}")
    with pytest.raises(M.Unavailable):
        M.locate(relative)
    assert M.locate(relative, near=tiny_model.parent).name == str(tiny_model)
    root = tmp_path / "models"
    shutil.copytree(tiny_model, root / "renamed" / "copy")
    assert M.locate(moved, root).name == str(root / "renamed" / "copy")  # found by its weights
    # a folder of the same name with other weights
    from attviz.testing import save_tiny_classifier

    other = tmp_path / "other"
    save_tiny_classifier(other / "model", seed=7)
    with pytest.raises(M.Unavailable, match="has other weights") as e:
        M.locate(dict(prov, model=str(other / "model")))
    assert str(e.value).count(".") >= 1 and "\n" not in str(e.value)
    with pytest.raises(M.Unavailable, match="does not name the model"):
        M.locate({"model": "synthetic"})


def test_at_most_two_models_are_kept_and_each_is_loaded_once(tiny_model, tmp_path):
    cache = M.ModelCache(2)
    copies = []
    for i in range(3):
        shutil.copytree(tiny_model, tmp_path / f"m{i}")
        copies.append(M.ModelSource(str(tmp_path / f"m{i}")))
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(copies[0])))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.loads == 1 and all(m is got[0] for m in got)
    cache.get(copies[1])
    cache.get(copies[2])
    assert len(cache) == 2 and cache.loads == 3
    cache.get(copies[0])  # dropped as the least recently used: loaded again
    assert cache.loads == 4


def test_the_service_drops_superseded_requests_and_says_why_it_cannot_run(instance,
                                                                          monkeypatch):
    inst, prov = instance
    svc = RelationsService()
    results = []
    gate = threading.Event()
    # a first request holds the worker until the gate opens; the second is superseded
    # meanwhile, the third is current
    first = svc.submit(Request(prov, inst.token_ids, 0, current=lambda: gate.wait(10)),
                       results.append)
    generation = {"now": 2}
    second = svc.submit(Request(prov, inst.token_ids, 0,
                                current=lambda: generation["now"] == 2), results.append)
    third = svc.submit(Request(prov, inst.token_ids, 1,
                               current=lambda: generation["now"] == 3), results.append)
    generation["now"] = 3
    gate.set()
    for f in (first, second, third):
        f.result(timeout=120)
    assert svc.dropped == 1 and svc.runs == 2
    assert [o.relations.layer for o in results] == [0, 1]
    monkeypatch.setattr("attviz.relations.service.missing_libraries", lambda: ["torch"])
    out = svc.run(Request(prov, inst.token_ids, 0))
    assert out.relations is None and "pip install 'attviz[model]'" in out.message
    monkeypatch.undo()
    out = svc.run(Request(dict(prov, model="/nowhere/model"), inst.token_ids, 0))
    assert out.relations is None and "/nowhere/model is not on this server" in out.message
