"""The corpus view's numbers against brute force over the store read with h5py: head grid
means, AUROC against a rank-based computation, token and position profiles (exact and
sampled), the slice's confusion matrix."""

import h5py
import numpy as np
import pytest

from attviz.explore import corpus_data as C
from attviz.store import layout as L
from attviz.store import open_store
from attviz.store.synth import structured_heads
from tests.helpers.stores import split_into_shards


@pytest.fixture(scope="module")
def synth(make_synth):
    return make_synth(800, layers=3, heads=4, classes=3, max_tokens=30, part_size=300)


@pytest.fixture(scope="module")
def raw(synth):
    with h5py.File(synth, "r") as f:
        start = f[L.TOKEN_START][:]
        return {
            "label": f[L.LABEL][:], "prediction": f[L.PREDICTION][:], "start": start,
            "ids": f[L.TOKEN_ID][:], "att": f[L.ATTENTION][:].astype(np.float64),
            **{n: f[f"{L.HEAD_STATS}/{n}"][:] for n in f[L.HEAD_STATS]},
        }


@pytest.fixture(scope="module")
def store(synth):
    with open_store(synth) as s:
        yield s


def rank_auroc(a, b):
    """Mann-Whitney AUROC from average ranks (ties share their mean rank)."""
    both = np.concatenate([a, b]).astype(np.float64)
    order = np.argsort(both, kind="stable")
    ranks = np.empty(len(both))
    sorted_vals = both[order]
    i = 0
    while i < len(both):
        j = i
        while j + 1 < len(both) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    ra = ranks[: len(a)].sum()
    return (ra - len(a) * (len(a) + 1) / 2) / (len(a) * len(b))


def test_slices_that_are_unions_of_groups(store, raw):
    g = C.Groups(store)
    wrong = (raw["label"] >= 0) & (raw["label"] != raw["prediction"])
    assert g.union(np.ones(len(wrong), bool)) is not None
    assert g.union(wrong) is not None
    assert g.union(raw["label"] == 1) is not None
    some = np.zeros(len(wrong), bool)
    some[:17] = True
    assert g.union(some) is None


@pytest.mark.parametrize("kind", ["non-negative float16", "signed float16 with -0",
                                  "int16"])
def test_auroc_is_the_rank_auroc_whatever_the_signs_and_chunks(monkeypatch, kind):
    rng = np.random.default_rng(7)
    n, layers, heads = 3_000, 3, 4
    if kind == "int16":
        values = rng.integers(-40, 40, (n, layers, heads)).astype(np.int16)
    else:
        values = np.round(rng.normal(0.3, 0.5, (n, layers, heads)), 2).astype(np.float16)
        if kind == "non-negative float16":
            values = np.abs(values)
        else:
            values[::7] = np.float16(-0.0)  # ties +0
            values[::11] = np.float16(0.0)
    a = rng.random(n) < 0.3
    b = ~a & (rng.random(n) < 0.8)
    monkeypatch.setattr(C, "_CHUNK", 256)  # rows counted in several chunks
    got = C.auroc(values, a, b)
    for layer in range(layers):
        for head in range(heads):
            want = rank_auroc(values[a, layer, head], values[b, layer, head])
            assert got[layer, head] == pytest.approx(want, abs=1e-12), (layer, head)


@pytest.mark.parametrize("stat", ["self_mean", "self_max", "first_mass", "self_argmax"])
def test_head_grid_means_and_auroc(store, raw, stat):
    g = C.Groups(store)
    n = len(raw["label"])
    everything = np.ones(n, bool)
    np.testing.assert_allclose(C.head_grid(store, g, stat, everything).value,
                               raw[stat].astype(np.float64).mean(0), rtol=1e-9)
    odd = np.arange(n) % 3 == 1  # not a union of groups: read from the statistic itself
    np.testing.assert_allclose(C.head_grid(store, g, stat, odd).value,
                               raw[stat][odd].astype(np.float64).mean(0), rtol=1e-9)
    wrong = (raw["label"] >= 0) & (raw["label"] != raw["prediction"])
    right = (raw["label"] >= 0) & ~wrong
    grid = C.head_grid(store, g, stat, wrong, right)
    assert (grid.n_a, grid.n_b) == (wrong.sum(), right.sum())
    np.testing.assert_allclose(grid.value, raw[stat][wrong].astype(np.float64).mean(0)
                               - raw[stat][right].astype(np.float64).mean(0), rtol=1e-9)
    for layer in range(3):
        for head in range(4):
            want = rank_auroc(raw[stat][wrong, layer, head], raw[stat][right, layer, head])
            assert grid.auroc[layer, head] == pytest.approx(want, abs=1e-12)


def test_an_empty_slice_has_no_mean(store, raw):
    """An empty slice (B empty when slice A is the misclassified only) has no mean, so no
    contrast: NaN, not 0 (A − 0 would look like a contrast)."""
    g = C.Groups(store)
    n = len(raw["label"])
    wrong = (raw["label"] >= 0) & (raw["label"] != raw["prediction"])
    none = np.zeros(n, bool)
    assert C.head_grid(store, g, "self_mean", none).value.shape == (3, 4)
    assert np.isnan(C.head_grid(store, g, "self_mean", none).value).all()
    grid = C.head_grid(store, g, "self_mean", wrong, none)
    assert (grid.n_a, grid.n_b) == (wrong.sum(), 0)
    np.testing.assert_allclose(grid.mean_a, raw["self_mean"][wrong].astype(np.float64).mean(0),
                               rtol=1e-9)
    assert np.isnan(grid.mean_b).all() and np.isnan(grid.value).all()
    assert np.isnan(grid.auroc).all()


def test_the_planted_error_head_stands_out_in_contrast(store, raw):
    g = C.Groups(store)
    wrong = (raw["label"] >= 0) & (raw["label"] != raw["prediction"])
    grid = C.head_grid(store, g, "self_mean", wrong, ~wrong)
    layer, head = structured_heads(3, 4)["error"]
    assert np.unravel_index(np.argmin(grid.auroc), grid.auroc.shape) == (layer, head)
    assert grid.auroc[layer, head] < 0.1


def _brute_tokens(raw, mask, layer, head):
    sums, counts = {}, {}
    for k in np.flatnonzero(mask):
        a, b = raw["start"][k], raw["start"][k + 1]
        vals = raw["att"][a:b, layer]
        vals = vals.mean(1) if head is None else vals[:, head]
        for t, v in zip(raw["ids"][a:b].tolist(), vals):
            sums[t] = sums.get(t, 0.0) + v
            counts[t] = counts.get(t, 0) + 1
    return sums, counts


def assert_top(ids, values, want: dict, top: int, rtol: float):
    """``ids`` are ``top`` keys of ``want`` with the largest values, ``values`` theirs (to
    ``rtol``: profiles keep float16 means), in descending order; ties within rtol may swap."""
    assert len(ids) == min(top, len(want)) and len(set(ids)) == len(ids)
    np.testing.assert_allclose(values, [want[t] for t in ids], rtol=rtol, atol=1e-6)
    assert (np.diff(values) <= 0).all()
    rest = [v for t, v in want.items() if t not in set(ids)]
    if rest:
        assert max(rest) <= min(want[t] for t in ids) * (1 + 2 * rtol) + 1e-6


@pytest.mark.parametrize("head", [1, None])
def test_token_profile_exact_and_sampled(store, raw, head):
    g = C.Groups(store)
    for mask, exact in (((raw["label"] == 2), True), ((np.arange(len(raw["label"])) % 2) == 0,
                                                         False)):
        prof = C.token_profile(store, g, mask, 2, head, min_count=3, top=15)
        assert prof.exact == exact and (exact or prof.sample == mask.sum())
        sums, counts = _brute_tokens(raw, mask, 2, head)
        means = {t: sums[t] / counts[t] for t in sums if counts[t] >= 3}
        assert_top(prof.token_id.tolist(), prof.mean, means, 15, 1e-3 if exact else 1e-9)
        assert prof.count.tolist() == [counts[t] for t in prof.token_id.tolist()]


def test_token_profile_contrast(store, raw):
    g = C.Groups(store)
    a, b = raw["prediction"] == 0, raw["prediction"] != 0
    prof = C.token_profile(store, g, a, 1, None, b, min_count=5, top=10)
    sa, ca = _brute_tokens(raw, a, 1, None)
    sb, cb = _brute_tokens(raw, b, 1, None)
    diff = {t: sa[t] / ca[t] - sb[t] / cb[t] for t in sa if ca[t] >= 5 and cb.get(t, 0) >= 5}
    got = prof.mean - prof.mean_b
    np.testing.assert_allclose(got, [diff[t] for t in prof.token_id.tolist()], atol=2e-3)
    assert_top(prof.token_id.tolist(), np.abs(got), {t: abs(v) for t, v in diff.items()}, 10,
               5e-3)


def test_topic_words_lead_the_topic_heads_profile(store):
    from attviz.store.synth import FIRST_WORD, TOPIC_WORDS

    layer, head = structured_heads(3, 4)["topic"]
    prof = C.token_profile(store, C.Groups(store), np.ones(store.n_instances, bool), layer,
                           head, top=TOPIC_WORDS)
    assert set(prof.token_id.tolist()) == set(range(FIRST_WORD, FIRST_WORD + TOPIC_WORDS))


def test_position_profile_exact_and_sampled(store, raw):
    g = C.Groups(store)
    n = len(raw["label"])
    for mask, exact in ((np.ones(n, bool), True), (np.arange(n) < 300, False)):
        prof = C.position_profile(store, g, mask, 2)
        assert prof.exact == exact
        width = int(np.diff(raw["start"])[mask].max())
        sums, counts = np.zeros((width, 4)), np.zeros(width)
        for k in np.flatnonzero(mask):
            a, b = raw["start"][k], raw["start"][k + 1]
            sums[: b - a] += raw["att"][a:b, 2]
            counts[: b - a] += 1
        np.testing.assert_array_equal(prof.count, counts)
        np.testing.assert_allclose(prof.mean, sums / counts[:, None], rtol=1e-3 if exact else 1e-9)
        # the first-token bias of the upper layers is visible at position 0
        assert (prof.mean[0] > 2 * prof.mean[1:].mean(0)).all()


def test_confusion_of_a_slice(raw):
    mask = np.arange(len(raw["label"])) % 2 == 1
    m = C.confusion(raw["label"], raw["prediction"], mask, 3)
    for g in range(3):
        for p in range(3):
            assert m[g, p] == (mask & (raw["label"] == g) & (raw["prediction"] == p)).sum()


def test_a_sample_is_a_sorted_subset_of_the_slice():
    mask = np.zeros(5000, bool)
    mask[::3] = True
    s = C.sample_of(mask, 100, seed=4)
    assert len(s) == 100 and len(np.unique(s)) == 100 and (np.diff(s) > 0).all()
    assert mask[s].all()
    np.testing.assert_array_equal(s, C.sample_of(mask, 100, seed=4))  # the same each time


def test_a_folder_of_shards_and_a_merged_store_give_the_same_corpus_view(synth, tmp_path):
    from attviz.explore.slices import SliceCache
    from attviz.store import merge

    folder = split_into_shards(synth, tmp_path / "shards", 250, [1, 3], provenance=False,
                               tokenizer=True)
    merged = merge([folder], tmp_path / "merged.h5")
    with open_store(synth) as one, open_store(folder) as sharded, open_store(merged) as m:
        views = [SliceCache(x) for x in (one, sharded, m)]
        c = one.columns
        wrong = (c.label >= 0) & (c.label != c.prediction)
        odd = np.arange(one.n_instances) % 3 == 0
        for a, b in ((np.ones(len(c.label), bool), None), (wrong, ~wrong), (odd, None)):
            grids = [v.grid("self_max", a, b) for v in views]
            tokens = [v.tokens(a, 1, 2, b, 3, 10) for v in views]
            positions = [v.positions(a, 2) for v in views]
            for g, t, p in zip(grids[1:], tokens[1:], positions[1:]):
                np.testing.assert_allclose(g.value, grids[0].value, rtol=1e-9)
                if b is not None:
                    np.testing.assert_array_equal(g.auroc, grids[0].auroc)
                np.testing.assert_allclose(t.mean, tokens[0].mean, rtol=2e-3)
                assert set(t.token_id.tolist()) == set(tokens[0].token_id.tolist())
                np.testing.assert_allclose(p.mean, positions[0].mean, rtol=2e-3)
                np.testing.assert_array_equal(p.count, positions[0].count)


def test_a_contrast_reads_its_statistic_a_layer_at_a_time_and_then_keeps_it(synth):
    from attviz.explore.slices import SliceCache

    with open_store(synth) as s:
        real, reads = s.read_head_stat, []

        def counted(name, layer=None, head=None):
            reads.append((name, layer, head))
            return real(name, layer, head)

        s.read_head_stat = counted
        cache = SliceCache(s)
        c = s.columns
        wrong = (c.label >= 0) & (c.label != c.prediction)
        right = (c.label >= 0) & (c.label == c.prediction)  # both unions of groups
        grid = cache.grid("self_max", wrong, right)
        layers = s.meta.num_layers
        assert reads == [("self_max", j, None) for j in range(layers)]
        whole = real("self_max")
        assert real("self_max", 2).shape == (s.n_instances, s.meta.num_heads)
        np.testing.assert_array_equal(cache.matrix("self_max"), whole)
        assert len(reads) == layers  # the layers read were kept as the whole statistic
        np.testing.assert_array_equal(grid.auroc, C.auroc(whole, wrong, right))
        cache.grid("self_max", right, wrong)
        assert len(reads) == layers
