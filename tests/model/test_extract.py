"""Self-attention diagonals against transformers' eager output_attentions."""

import copy

import numpy as np
import pytest
import torch
import transformers as T

from attviz.errors import UserError
from attviz.precompute.extract import Extractor
from attviz.testing import make_model


def _eager_reference(model, ids_list):
    """Diagonals [tokens, layers, heads] and softmax probabilities, one unpadded run each."""
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    diags, probs = [], []
    with torch.no_grad():
        for ids in ids_list:
            out = ref(input_ids=torch.tensor(ids, dtype=torch.long)[None], output_attentions=True)
            assert out.attentions[0].shape[-1] == out.attentions[0].shape[-2] == len(ids)
            d = torch.stack([torch.diagonal(a[0], dim1=-2, dim2=-1) for a in out.attentions])
            diags.append(d.permute(2, 0, 1).numpy())  # [layers, heads, tokens] -> [tokens, ...]
            probs.append(torch.softmax(out.logits[0], -1).numpy())
    return diags, np.stack(probs)


def _batch(rng, lengths, vocab=100):
    return [rng.integers(5, vocab, size=n).astype(np.int64) for n in lengths]


ARCHS = {
    "bert": lambda: make_model(["a", "b", "c"], 100),
    "distilbert": lambda: T.DistilBertForSequenceClassification(T.DistilBertConfig(
        vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=3)),
    "roberta": lambda: T.RobertaForSequenceClassification(T.RobertaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=3)),
    # causal attention and grouped key/value heads
    "llama-gqa": lambda: T.LlamaForSequenceClassification(T.LlamaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=64, num_labels=3, pad_token_id=0)),
}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_fused_diagonal_equals_eager_on_padded_batches(arch):
    torch.manual_seed(0)
    model = ARCHS[arch]().eval()
    ex = Extractor(model, pad_token_id=0)
    assert ex.path == "fused" and ex.description.startswith("fused")
    rng = np.random.default_rng(1)
    # mixed lengths (heavy padding), and equal lengths (no padding: transformers then builds
    # no mask at all and leaves causality to the kernel)
    for lengths in ([17, 5, 30, 9, 30, 2], [11, 11, 11]):
        ids = _batch(rng, lengths)
        ex.stats.reset()
        res = ex(ids)
        assert ex.stats.fused > 0 and ex.stats.eager == 0
        ref, ref_probs = _eager_reference(model, ids)
        for got, want in zip(res.attention, ref):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(res.probabilities, ref_probs, atol=1e-5)
        np.testing.assert_allclose(res.probabilities.sum(1), 1, atol=1e-6)


def test_eager_path_gives_the_same_numbers():
    model = make_model(["a", "b"], 100, layers=3, heads=2)
    rng = np.random.default_rng(2)
    ids = _batch(rng, [12, 3, 25])
    fused = Extractor(copy.deepcopy(model), 0)
    eager = Extractor(copy.deepcopy(model), 0, attention="eager")
    assert eager.path == "eager" and eager.description.startswith("eager")
    a, b = fused(ids), eager(ids)
    for x, y in zip(a.attention, b.attention):
        np.testing.assert_allclose(x, y, atol=1e-5)
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
    assert (fused.num_layers, fused.num_heads) == (3, 2)


def test_model_without_attention_interface_falls_back_to_eager():
    torch.manual_seed(0)
    model = T.DebertaV2ForSequenceClassification(T.DebertaV2Config(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=2)).eval()
    ex = Extractor(model, 0)
    assert ex.path == "eager" and "attention interface" in ex.description
    ids = _batch(np.random.default_rng(3), [8, 14])
    res = ex(ids)
    ref, _ = _eager_reference(model, ids)
    for got, want in zip(res.attention, ref):
        np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="fused attention path does not fit"):
        Extractor(model, 0, attention="fused")


def _with_window(layers):
    """The attention function as a model with a sliding window on ``layers`` would call it."""
    from attviz.precompute.extract import diagonal

    def fn(module, *a, **kw):
        if module.layer_idx in layers:
            kw = {**kw, "sliding_window": 4096}
        return diagonal.diagonal_attention(module, *a, **kw)

    return fn


@pytest.mark.parametrize("window_layers", [{0}, {0, 1}])
def test_layers_without_a_fitting_kernel_run_eagerly(window_layers):
    """A feature no fused kernel supports runs that layer eagerly: same numbers, reported."""
    from transformers import AttentionInterface

    from attviz.precompute.extract import diagonal

    model = make_model(["a", "b"], 100)
    ids = _batch(np.random.default_rng(4), [10, 6])
    want = Extractor(copy.deepcopy(model), 0, attention="eager")(ids)
    diagonal.register()
    AttentionInterface.register(diagonal.NAME, _with_window(window_layers))
    try:
        ex = Extractor(copy.deepcopy(model), 0)
        ex.stats.reset()
        got = ex(ids)
        if window_layers == {0}:  # mixed: fused path, one layer eager
            assert ex.path == "fused" and ex.stats.eager == 1 and ex.stats.fused == 1
            assert "1 of 2 layer calls eager" in ex.description
        else:  # no layer fits: the whole model runs eagerly
            assert ex.path == "eager" and "sliding_window" in ex.description
    finally:
        AttentionInterface.register(diagonal.NAME, diagonal.diagonal_attention)
    for x, y in zip(got.attention, want.attention):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_each_extractor_counts_its_own_layer_calls_across_threads():
    """Two extractors running at once in two threads: each counts only its own layers."""
    import threading

    extractors = [Extractor(make_model(["a", "b"], 100, layers=n), 0) for n in (2, 3)]
    before = [ex.stats.fused for ex in extractors]
    rng = np.random.default_rng(5)
    batches = [_batch(rng, [9, 4]) for _ in range(6)]
    start = threading.Barrier(2)
    failures = []

    def work(ex):
        try:
            start.wait()
            for ids in batches:
                ex(ids)
        except Exception as e:  # reported below, in the test's thread
            failures.append(e)

    threads = [threading.Thread(target=work, args=(ex,)) for ex in extractors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures and not any(t.is_alive() for t in threads)
    for ex, n0, layers in zip(extractors, before, (2, 3)):
        assert ex.stats.fused - n0 == layers * len(batches) and ex.stats.eager == 0


def test_layer_calls_outside_an_extractor_are_not_counted():
    from attviz.precompute.extract import diagonal

    model = make_model(["a", "b"], 100)
    ex = Extractor(model, 0)
    n = ex.stats.fused
    with torch.no_grad():  # the model itself, not through the extractor
        model(input_ids=torch.tensor([[5, 6, 7]]), output_attentions=True)
    assert ex.stats.fused == n and model.config._attn_implementation == diagonal.NAME
    ex([np.array([5, 6, 7])])
    assert ex.stats.fused == n + 2


def test_device_and_dtype_choices():
    from attviz.precompute.extract import resolve_device, resolve_dtype

    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(UserError, match="--device gpu0: not a device torch knows"):
        resolve_device("gpu0")
    with pytest.raises(UserError, match="--dtype half: choose one of float32"):
        resolve_dtype("half", torch.device("cpu"))
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="for GPUs"):
            resolve_dtype("float16", torch.device("cpu"))
    assert resolve_dtype("float32", torch.device("cpu")) is torch.float32


def _eager_head_stats(model, ids_list):
    """Per instance [layers, heads]: the means over query tokens of A[i, 0], A[i, n - 1] and
    the row entropy / log(n), from transformers' eager maps of one unpadded run each."""
    ref = copy.deepcopy(model)
    ref.set_attn_implementation("eager")
    out = {"first_mass": [], "last_mass": [], "entropy": []}
    with torch.no_grad():
        for ids in ids_list:
            maps = ref(input_ids=torch.tensor(ids, dtype=torch.long)[None],
                       output_attentions=True).attentions
            a = torch.stack([m[0] for m in maps]).double()  # [layers, heads, n, n]
            n = len(ids)
            out["first_mass"].append(a[..., :, 0].mean(-1).numpy())
            out["last_mass"].append(a[..., :, n - 1].mean(-1).numpy())
            h = -(a * torch.log(a.clamp_min(1e-300))).sum(-1)
            out["entropy"].append((h / np.log(n)).mean(-1).numpy() if n > 1
                                  else np.zeros(a.shape[:2]))
    return {k: np.stack(v) for k, v in out.items()}


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("path", ["fused", "eager"])
def test_head_statistics_equal_eager_maps(arch, path):
    torch.manual_seed(0)
    model = ARCHS[arch]().eval()
    ex = Extractor(model, pad_token_id=0, attention=path, entropy=True)
    assert ex.path == path
    rng = np.random.default_rng(3)
    for lengths in ([17, 5, 30, 1, 9], [11, 11, 11]):
        ids = _batch(rng, lengths)
        res = ex(ids)
        want = _eager_head_stats(model, ids)
        assert set(res.stats) == {"first_mass", "last_mass", "entropy"}
        for name, values in want.items():
            np.testing.assert_allclose(res.stats[name], values, atol=2e-5, rtol=0,
                                       err_msg=f"{arch} {path} {name} {lengths}")


def test_entropy_only_when_asked():
    model = make_model(["a", "b"], 100)
    res = Extractor(model, 0)(_batch(np.random.default_rng(0), [6, 9]))
    assert set(res.stats) == {"first_mass", "last_mass"}


def test_each_mask_of_a_forward_pass_is_applied():
    """Layers given different masks in one forward pass (local and global attention, say)
    each get their own, in any order, against softmax maps of the same scores."""
    from attviz.precompute.extract import diagonal as D

    torch.manual_seed(0)
    b, h, t, d = 3, 4, 12, 8
    q, k, v = (torch.randn(b, h, t, d) for _ in range(3))
    lengths = torch.tensor([12, 7, 3])
    keep = torch.arange(t)[None, :] < lengths[:, None]
    padding = keep[:, None, None, :].expand(b, 1, t, t)
    band = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).abs() <= 2
    local = padding & band
    stats = D.DiagonalStats()
    with D.recording_into(stats, lengths), torch.no_grad():
        for mask in (padding, local, local, padding, local):
            _, got = D.diagonal_attention(None, q, k, v, mask, scaling=d**-0.5)
            scores = (q @ k.mT) * d**-0.5
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
            want = D.map_quantities(weights, lengths, entropy=False)
            rows = keep[:, None, :, None].expand_as(want)  # queries of real tokens
            torch.testing.assert_close(got[rows], want[rows], atol=1e-6, rtol=0)
    assert stats.fused == 5 and stats.eager == 0

