"""Head importance (dL/dg at g = 1) against independent computations: autograd through
forward pre-hooks on each layer's output projection of the eager model, run on each
instance alone (tests/helpers/gating.py), and central finite differences."""

from __future__ import annotations

import copy

import h5py
import numpy as np
import pytest
import torch

from attviz.precompute.extract import Extractor
from tests.helpers.families import FAMILIES, UNGATEABLE, build
from tests.helpers.gating import gate_gradient, gated_logits

LENGTHS = [17, 5, 30, 9, 30, 2]  # mixed: a padded batch
F16_STEP = 6e-8  # float16's smallest subnormal
LABELS = np.array([0, -1, 2, 1, -1, 0])  # -1: no gold label, the predicted class is used


def _ids(seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(5, 100, size=n).astype(np.int64) for n in LENGTHS]


def _check(model, atol_share: float = 2e-3) -> Extractor:
    ex = Extractor(copy.deepcopy(model), 0, importance=True)
    assert ex.importance and not ex.gate_problem
    ids = _ids()
    got = ex(ids, labels=LABELS).stats["importance"].astype(np.float16)  # as stored
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    for i, x in enumerate(ids):
        want = gate_gradient(ref, x, int(LABELS[i]), ex.num_layers, ex.num_heads)
        scale = np.abs(want).max()
        assert scale > 0
        # float16 keeps 11 bits, and below 6.1e-5 a step of 6e-8 (subnormals): within a
        # few parts in a thousand of the largest value, plus that step
        np.testing.assert_allclose(got[i], want, atol=atol_share * scale + F16_STEP, rtol=2e-3,
                                   err_msg=f"instance {i}")
    return ex


@pytest.mark.parametrize("family", ["bert", "roberta", "llama"])
def test_importance_equals_the_gradient_of_a_gate_hook(family):
    """BERT, RoBERTa and a causal Llama with grouped key/value heads; a padded batch
    through the fused kernels' backward; gold labels and the predicted one."""
    torch.manual_seed(0)
    ex = _check(build(family))
    assert ex.path == "fused"


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in UNGATEABLE])
def test_every_gateable_family(family):
    """Every family precompute supports whose layers call the attention interface, the
    fused path or (soft-capping, sliding windows) the model's own eager attention."""
    torch.manual_seed(1)
    _check(build(family))


@pytest.mark.parametrize("family", UNGATEABLE)
def test_families_without_the_attention_interface_say_so(family):
    torch.manual_seed(0)
    ex = Extractor(build(family), 0, importance=True)
    assert not ex.importance
    assert "cannot be gated" in ex.gate_problem
    res = ex(_ids()[:2], labels=LABELS[:2])
    assert "importance" not in res.stats  # no silent zeros


def test_importance_matches_central_finite_differences():
    """dL/dg of a float64 model by (L(g + e) - L(g - e)) / 2e, gate by gate."""
    torch.manual_seed(3)
    model = build("bert").double()
    ids = _ids()[2]
    label = 2
    ex = Extractor(build("bert").eval(), 0, importance=True)
    ex.model.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    got = ex([ids], labels=np.array([label])).stats["importance"][0]
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    eps = 1e-4
    want = np.zeros_like(got, dtype=np.float64)
    with torch.no_grad():
        for layer in range(got.shape[0]):
            for head in range(got.shape[1]):
                losses = []
                for sign in (1, -1):
                    g = torch.ones(got.shape, dtype=torch.float64)
                    g[layer, head] += sign * eps
                    logits = gated_logits(ref, ids, g)
                    losses.append(float(torch.nn.functional.cross_entropy(
                        logits[None], torch.tensor([label]))))
                want[layer, head] = (losses[0] - losses[1]) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


def test_precompute_stores_importance_with_its_label_and_group_sums(ablation_store,
                                                                     trained_model):
    """The store's importance is each instance's own gradient (gold label), float16,
    chunked like the other statistics; its group sums add up; the label is recorded."""
    from transformers import AutoModelForSequenceClassification

    with h5py.File(ablation_store, "r") as f:
        imp = f["/instances/head_stats/importance"]
        assert imp.dtype == np.float16 and list(imp.attrs["dims"]) == [
            "instances", "layers", "heads"]
        assert imp.chunks == f["/instances/head_stats/self_mean"].chunks
        assert f.attrs["format_version"] == "1.2"
        assert "gold" in f.attrs["importance_label"]
        values = imp[:]
        start, ids = f["/instances/token_start"][:], f["/tokens/id"][:]
        label, pred = f["/instances/label"][:], f["/instances/prediction"][:]
        keys, sums = f["/profiles/group/key"][:], f["/profiles/group/head_stats/importance"][:]
    for g, (gold, predicted) in enumerate(keys):
        members = (label == gold) & (pred == predicted)
        np.testing.assert_allclose(sums[g], values[members].astype(np.float64).sum(0),
                                   rtol=1e-9, atol=1e-12)
    model = AutoModelForSequenceClassification.from_pretrained(
        trained_model, attn_implementation="eager").eval()
    for k in (0, 7, len(label) - 1):
        want = gate_gradient(model, ids[start[k] : start[k + 1]], int(label[k]), 2, 4)
        np.testing.assert_allclose(values[k], want, rtol=3e-3,
                                   atol=2e-3 * np.abs(want).max() + F16_STEP)


def test_precompute_of_an_ungateable_model_says_so_in_one_line(tmp_path, tiny_corpus,
                                                               capfd):
    """A DeBERTa-v2 classifier: one line before the run, no importance in the store."""
    import transformers as T

    from attviz.cli import main
    from attviz.testing import WORDS, make_tokenizer
    from tests.helpers.stores import precompute_args

    tok = make_tokenizer()
    torch.manual_seed(0)
    model = T.DebertaV2ForSequenceClassification(T.DebertaV2Config(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=3, id2label=dict(enumerate(WORDS)),
        label2id={n: i for i, n in enumerate(WORDS)})).eval()
    model.save_pretrained(tmp_path / "deberta")
    tok.save_pretrained(tmp_path / "deberta")
    out = tmp_path / "d.h5"
    assert main([*precompute_args(tmp_path / "deberta", tiny_corpus, out, limit=4),
                 "--importance"]) == 0
    lines = [x for x in capfd.readouterr().err.splitlines() if "--importance" in x]
    assert len(lines) == 1 and "cannot be gated" in lines[0] and "no importance" in lines[0]
    with h5py.File(out, "r") as f:
        assert "/instances/head_stats/importance" not in f
        assert "importance_label" not in f.attrs


def test_index_and_merge_keep_importance(ablation_store, tmp_path):
    import shutil

    from attviz.cli import main

    copy_ = tmp_path / "again.h5"
    shutil.copy(ablation_store, copy_)
    assert main(["index", str(copy_), "--no-progress"]) == 0
    merged = tmp_path / "merged.h5"
    assert main(["merge", str(ablation_store), str(copy_), "--out", str(merged)]) == 0
    with h5py.File(ablation_store, "r") as a, h5py.File(copy_, "r") as b, \
            h5py.File(merged, "r") as m:
        path = "/instances/head_stats/importance"
        np.testing.assert_array_equal(a[path][:], b[path][:])
        np.testing.assert_array_equal(m[path][:], np.concatenate([a[path][:], a[path][:]]))
        sums = "/profiles/group/head_stats/importance"
        np.testing.assert_allclose(m[sums][:], 2 * a[sums][:])
