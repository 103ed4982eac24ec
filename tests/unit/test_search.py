"""Text search with the token index, against brute force over the texts and token ids read
with h5py; the scan; stores without an index."""

import h5py
import numpy as np
import pytest

from attviz.store import Store, open_store
from attviz.store import layout as L
from attviz.store.search import indexed, search
from tests.helpers.paths import ROOT
from tests.helpers.stores import split_into_shards


def _raw(path):
    with h5py.File(path, "r") as f:
        off, data = f[L.TEXT + "/offsets"][:], f[L.TEXT + "/data"][:].tobytes()
        texts = [data[off[k] : off[k + 1]].decode() for k in range(len(off) - 1)]
        start, ids = f[L.TOKEN_START][:], f[L.TOKEN_ID][:]
        voff, vdata = f[L.VOCAB_TOKEN + "/offsets"][:], f[L.VOCAB_TOKEN + "/data"][:].tobytes()
        vocab = [vdata[voff[k] : voff[k + 1]].decode() for k in range(len(voff) - 1)]
    return texts, [set(ids[a:b].tolist()) for a, b in zip(start[:-1], start[1:])], vocab


@pytest.fixture(scope="module")
def synth(make_synth):
    return make_synth(1500, layers=2, heads=2, classes=3, max_tokens=40, part_size=500)


def test_whole_words_through_the_index(synth):
    texts, ids, vocab = _raw(synth)
    with Store(synth) as s:
        assert indexed(s)
        # short words also occur inside longer ones: the index finds the word itself
        words = sorted({w for t in texts[:40] for w in t.split()}, key=len)[:6]
        for w in words:
            got = np.flatnonzero(search(s, w.upper()))
            want = [k for k, t in enumerate(texts) if w in t.split()]
            assert got.tolist() == want and want, w
            t = vocab.index(w)
            assert got.tolist() == [k for k in range(len(texts))
                                    if t in ids[k] and w in texts[k].lower()]
            scan = np.flatnonzero(search(s, w, inside_words=True))
            assert scan.tolist() == [k for k, x in enumerate(texts) if w in x]
            assert set(got) <= set(scan)
            assert not search(s, w.upper(), case_sensitive=True).any()


def test_phrases_need_every_token_and_the_phrase(synth):
    texts, _, _ = _raw(synth)
    with Store(synth) as s:
        for k in (3, 77, 901):
            words = texts[k].split()
            phrase = " ".join(words[4:6])
            got = np.flatnonzero(search(s, phrase)).tolist()
            want = [i for i, t in enumerate(texts)
                    if f" {phrase} " in f" {t} " and all(w in t.split() for w in words[4:6])]
            assert k in got and got == want


def test_a_folder_of_shards_searches_like_one_store(synth, tmp_path):
    folder = split_into_shards(synth, tmp_path / "shards", 400, [2], provenance=False,
                               tokenizer=True)
    texts, _, _ = _raw(synth)
    word = texts[1200].split()[0]
    with open_store(folder) as sharded, Store(synth) as single:
        assert indexed(sharded)
        np.testing.assert_array_equal(search(sharded, word), search(single, word))
        assert search(sharded, word)[1200]


def test_a_store_without_index_is_scanned():
    with Store(ROOT / "tests" / "data" / "store-v1.0.h5") as s:
        assert not indexed(s)
        np.testing.assert_array_equal(search(s, "CAFÉ"), s.search_text("CAFÉ"))
        assert search(s, "café").sum() == 1


def test_one_token_queries_skip_the_text_check_only_where_that_is_exact(synth, monkeypatch):
    import attviz.store.search as S

    texts, _, _ = _raw(synth)
    with Store(synth) as s, Store(ROOT / "tests" / "data" / "store-v1.1.h5") as bert:
        assert S.keeps_characters(s, False) and S.keeps_characters(s, True)
        assert not S.keeps_characters(bert, False)  # BERT's normaliser strips accents
        word, other = texts[9].split()[1:3]
        assert S.single_tokens(s, word, False)
        assert not S.single_tokens(s, f"{word} {other}", False)  # two tokens: checked
        fast = search(s, word)
        reads = []
        monkeypatch.setattr(S, "keeps_characters", lambda *a: False)
        monkeypatch.setattr(s, "texts", lambda idx: reads.append(len(idx)) or Store.texts(s, idx))
        np.testing.assert_array_equal(search(s, word), fast)  # the checked answer is the same
        assert reads and reads[0] == fast.sum()
