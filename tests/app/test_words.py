"""Words from subword tokens, and the per-word values the views show (docs/aggregations.md).

Expected values are worked out by hand or with explicit loops over the pieces.
"""

import io

import h5py
import numpy as np
import pandas as pd

from attviz.analysis.words import (
    tokens_alone,
    unit_attention,
    unit_mean,
    unit_spans,
    unit_strings,
    word_grouping,
)
from attviz.explore.viewdata import ViewSettings, instance_csv, view_data
from attviz.store import open_store

# "[CLS] un ##believ ##able , said o ' connor . [SEP]" over the text below
TEXT = "unbelievable, said o'connor."
TOKENS = ["[CLS]", "un", "##believ", "##able", ",", "said", "o", "'", "connor", ".", "[SEP]"]
SPANS = np.array([[-1, -1], [0, 2], [2, 8], [8, 12], [12, 13], [14, 18], [19, 20], [20, 21],
                  [21, 27], [27, 28], [-1, -1]])
SPECIAL = np.array([True] + [False] * 9 + [True])
WORDS = [[0], [1, 2, 3, 4], [5], [6, 7, 8, 9], [10]]  # pieces of each word, by hand


def test_pieces_that_touch_form_one_word_and_special_tokens_stay_alone():
    g = word_grouping(SPANS, SPECIAL)
    assert [list(np.flatnonzero(g.group == u)) for u in range(g.n_units)] == WORDS
    assert g.first.tolist() == [w[0] for w in WORDS]
    assert g.size.tolist() == [len(w) for w in WORDS]
    assert unit_strings(TOKENS, SPANS, TEXT, g) == ["[CLS]", "unbelievable,", "said",
                                                    "o'connor.", "[SEP]"]
    assert unit_spans(SPANS, g).tolist() == [[-1, -1], [0, 13], [14, 18], [19, 28], [-1, -1]]


def test_a_gap_splits_words_and_two_special_tokens_never_join():
    spans = np.array([[-1, -1], [-1, -1], [0, 3], [4, 6], [6, 7], [9, 10]])
    special = np.array([True, True, False, False, False, False])
    g = word_grouping(spans, special)
    assert g.group.tolist() == [0, 1, 2, 3, 3, 4]


def test_word_values_are_the_mean_of_their_pieces():
    rng = np.random.default_rng(0)
    att = rng.random((len(TOKENS), 3, 4)).astype(np.float32)
    got = unit_mean(att, word_grouping(SPANS, SPECIAL))
    want = np.stack([att[w].astype(np.float64).mean(axis=0) for w in WORDS])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    same = unit_mean(att, tokens_alone(len(TOKENS)))
    assert same is att


def test_word_to_word_attention_sums_received_pieces_and_averages_giving_ones():
    rng = np.random.default_rng(1)
    a = rng.random((len(TOKENS), len(TOKENS)))
    a /= a.sum(axis=1, keepdims=True)
    got = unit_attention(a, word_grouping(SPANS, SPECIAL))
    want = np.zeros((len(WORDS), len(WORDS)))
    for u, giving in enumerate(WORDS):
        for v, receiving in enumerate(WORDS):
            want[u, v] = np.mean([sum(a[i, j] for j in receiving) for i in giving])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


def _raw(path, k):
    with h5py.File(path, "r") as f:
        start = f["/instances/token_start"][:]
        a, b = start[k], start[k + 1]
        return (f["/attention/self"][a:b].astype(np.float64), f["/tokens/span"][a:b],
                f["/tokens/special"][a:b])


def test_views_and_csv_show_words_as_the_mean_of_their_pieces(tiny_store):
    with open_store(tiny_store) as s:
        k = next(i for i in range(s.n_instances)
                 if (lambda x: len(x.tokens) > len(word_grouping(x.spans, x.special).first))(
                     s.read_instance(i)))
        inst = s.read_instance(k)
    att, spans, special = _raw(tiny_store, k)
    # words from the file's spans, by a loop: a piece joins when it starts where the last ended
    words, prev_end = [], None
    for i, ((start, end), sp) in enumerate(zip(spans.tolist(), special.tolist())):
        if not sp and start >= 0 and prev_end is not None and start <= prev_end and words:
            words[-1].append(i)
        else:
            words.append([i])
        prev_end = end if (not sp and start >= 0) else None
    assert len(words) < len(spans)  # the tiny tokenizer splits some words
    settings = ViewSettings(layer=1, heads=(0, 2), aggregation="mean", scope="heads",
                            hide_special=True, highlight=3, words=True)
    vd = view_data(inst, settings)
    shown = [w for w in words if not special[w[0]]]
    assert vd.positions.tolist() == [w[0] for w in shown]
    assert vd.tokens == [inst.text[spans[w[0], 0]:spans[w[-1], 1]] for w in shown]
    want = np.stack([att[w].mean(axis=0) for w in shown])  # [words, layers, heads]
    np.testing.assert_allclose(vd.values, want[:, 1, [0, 2]], rtol=1e-6)
    np.testing.assert_allclose(vd.aggregate, want[:, 1, [0, 2]].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(vd.highlight, want[:, 1, 3], rtol=1e-6)
    assert vd.spans.tolist() == [[spans[w[0], 0], spans[w[-1], 1]] for w in shown]
    frame = pd.read_csv(io.StringIO(instance_csv(inst, 1, words=True).getvalue()),
                        keep_default_na=False)
    assert len(frame) == len(words)
    assert frame["pieces"].tolist() == [len(w) for w in words]
    every = np.stack([att[w].mean(axis=0) for w in words])
    np.testing.assert_allclose(frame["L1H2"], every[:, 1, 2], rtol=1e-6)
    np.testing.assert_allclose(frame["mean (layer 1)"], every[:, 1, :].mean(axis=1), rtol=1e-6)
    tokens = pd.read_csv(io.StringIO(instance_csv(inst, 1).getvalue()), keep_default_na=False)
    assert len(tokens) == len(spans) and "pieces" not in tokens
