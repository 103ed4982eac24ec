"""The last layer's work after its attention on the first row only (extract/readout.py):
the same probabilities, diagonals, statistics and importance as the full pass, less work,
and nothing changed outside an extractor's forward pass."""

import copy

import numpy as np
import pytest
import torch

from attviz.precompute.extract import Extractor, diagonal, readout
from tests.helpers.families import build

WRAPPED = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "deberta-v2")
UNWRAPPED = ("albert", "mpnet", "modernbert", "llama", "mistral", "gpt2")


def _batch(seed, lengths=(17, 5, 30, 9, 2)):
    rng = np.random.default_rng(seed)
    return [rng.integers(5, 100, size=n).astype(np.int64) for n in lengths]


def _wrapped_names(model):
    """(module name, method) of every method an instance of the model's modules overrides
    (the test's own mean-pooling patch of a pooler aside)."""
    return [(name, attr) for name, m in model.named_modules() if not name.endswith("pooler")
            for attr in ("forward", "feed_forward_chunk", "ff_chunk") if attr in m.__dict__]


@pytest.mark.parametrize("family", WRAPPED)
def test_first_row_only_gives_the_numbers_of_the_full_pass(family):
    torch.manual_seed(0)
    model = build(family)
    full = Extractor(copy.deepcopy(model), 0, entropy=True, first_row=False)
    part = Extractor(copy.deepcopy(model), 0, entropy=True)
    assert part.first_row_only and not full.first_row_only
    assert "first row only" in part.description and "first row" not in full.description
    assert _wrapped_names(part.model) and not _wrapped_names(full.model)
    for seed in (1, 2):
        ids = _batch(seed)
        a, b = full(ids), part(ids)
        np.testing.assert_allclose(b.probabilities, a.probabilities, atol=1e-6, rtol=0)
        for x, y in zip(a.attention, b.attention):
            np.testing.assert_array_equal(y, x)  # the attention comes before: untouched
        assert a.stats.keys() == b.stats.keys() == {"first_mass", "last_mass", "entropy"}
        for k in a.stats:
            np.testing.assert_array_equal(b.stats[k], a.stats[k])


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_the_last_layer_feeds_forward_one_row_inside_a_recording_only(family):
    torch.manual_seed(0)
    model = build(family)
    Extractor(model, 0)
    last = readout.last_layer(model)
    first = last.intermediate.dense if family == "bert" else last.ffn.lin1
    seen = []
    first.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    ids = torch.tensor(np.stack(_batch(3, (9, 9))))
    with torch.no_grad():
        outside = model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        with diagonal.recording_into(diagonal.DiagonalStats(), first_row_only=True):
            inside = model(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    assert seen == [(2, 9, first.in_features), (2, 1, first.in_features)]
    torch.testing.assert_close(inside[:, 0], outside[:, 0])
    assert not torch.allclose(inside[:, 1:], outside[:, 1:])  # the unread rows were skipped


def test_outside_a_recording_the_model_and_its_copies_compute_every_row():
    torch.manual_seed(0)
    model = build("roberta")
    reference = copy.deepcopy(model)
    Extractor(model, 0)
    twin = copy.deepcopy(model)
    # the copy's wrappers are bound to the copy's modules, not the original's
    for (name, attr) in _wrapped_names(twin):
        assert getattr(twin.get_submodule(name), attr).__self__ is twin.get_submodule(name)
    ids = torch.tensor(np.stack(_batch(4, (12, 12))))
    with torch.no_grad():
        want = reference(input_ids=ids, output_hidden_states=True).hidden_states[-1]
        for m in (model, twin):
            got = m(input_ids=ids, output_hidden_states=True).hidden_states[-1]
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize("family", UNWRAPPED)
def test_other_structures_are_left_as_they_are(family):
    torch.manual_seed(0)
    model = build(family)
    ex = Extractor(model, 0)
    assert not ex.first_row_only and not _wrapped_names(model)
    assert "first row" not in ex.description


def test_a_classifier_that_reads_every_row_keeps_the_full_pass():
    torch.manual_seed(0)
    model = build("bert")
    pooler = model.bert.pooler
    # mean pooling over the tokens instead of the first token's row
    pooler.forward = lambda hidden: torch.tanh(pooler.dense(hidden.mean(1)))
    ex = Extractor(model, 0)
    assert not ex.first_row_only and not _wrapped_names(model)
    # what it computes is that classifier's output
    ids = _batch(5, (8,))
    with torch.no_grad():
        want = torch.softmax(model(input_ids=torch.from_numpy(ids[0])[None]).logits, -1).numpy()
    np.testing.assert_allclose(ex(ids).probabilities, want, atol=1e-6)


def test_importance_is_the_same_with_the_first_row_only():
    torch.manual_seed(0)
    model = build("bert")
    full = Extractor(copy.deepcopy(model), 0, importance=True, first_row=False)
    part = Extractor(copy.deepcopy(model), 0, importance=True)
    assert part.first_row_only and part.importance and full.importance
    ids = _batch(6)
    labels = np.array([0, 2, -1, 1, 0])
    a, b = full(ids, labels), part(ids, labels)
    assert np.abs(a.stats["importance"]).max() > 0
    np.testing.assert_allclose(b.stats["importance"], a.stats["importance"], atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(b.probabilities, a.probabilities, atol=1e-6)


def test_fits_says_no_when_the_first_row_only_fails_or_differs():
    ones = torch.ones(2, 3) / 3
    assert readout.fits(lambda on: ones)
    assert not readout.fits(lambda on: ones * (1.01 if on else 1))

    def failing(on):
        if on:
            raise TypeError("unexpected arguments")
        return ones

    assert not readout.fits(failing)
