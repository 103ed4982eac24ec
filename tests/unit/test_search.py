"""Text search with the token index, against brute force over the texts and token ids read
with h5py; the scan; stores without an index; phrases through where each token occurs, and
without it."""

import shutil

import h5py
import numpy as np
import pytest

from attviz.store import Store, open_store
from attviz.store import layout as L
from attviz.store.search import indexed, phrase_instances, search
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


def _without_occurrences(path, out):
    """A copy of the store ``path`` as writers before format 1.2's occurrences left it."""
    shutil.copy(path, out)
    with h5py.File(out, "r+") as f:
        del f[L.INDEX_OCCURRENCES], f[L.INDEX_OCCURRENCE_OFFSETS]
    return out


def _in_order(ids, seq):
    """Whether the token ids ``ids`` hold ``seq`` one after another."""
    n = len(seq)
    return any(ids[i : i + n].tolist() == list(seq) for i in range(len(ids) - n + 1))


def _phrases(texts):
    """Phrases of 2 and 3 words from the texts: some that occur, a repeated word, words that
    occur in the store but not next to each other, and one that occurs only across words."""
    out = []
    for k in (3, 77, 901, 1400):
        words = texts[k].split()
        out += [" ".join(words[4:6]), " ".join(words[7:10])]
    out += [f"{w} {w}" for t in texts for w, x in zip(t.split(), t.split()[1:]) if w == x][:3]
    out += [f"{w} {x} {w}" for t in texts for w, x, y in zip(t.split(), t.split()[1:],
                                                               t.split()[2:]) if w == y][:2]
    out.append(f"{texts[5].split()[0]} {texts[6].split()[-1]}")
    vocab = {w for t in texts for w in t.split()}
    inside = [f"{a[i:]} {b}" for t in texts[:200] for a, b in zip(t.split(), t.split()[1:])
              for i in range(1, len(a)) if a[i:] in vocab]  # its first word ends a longer one
    return out + inside[:3]


def test_phrases_are_their_tokens_in_order_with_and_without_occurrences(synth, tmp_path):
    """2- and 3-word phrases, repeated words: the instances whose token ids hold the phrase's
    tokens one after another and whose text holds the phrase, read with h5py; the same
    through where each token occurs and through the older store's texts and token ids."""
    texts, _, vocab = _raw(synth)
    with h5py.File(synth, "r") as f:
        start, ids = f[L.TOKEN_START][:], f[L.TOKEN_ID][:]
    rows = [ids[a:b] for a, b in zip(start[:-1], start[1:])]
    older = _without_occurrences(synth, tmp_path / "older.h5")
    with Store(synth) as s, Store(older) as o:
        assert s.has_occurrences and not o.has_occurrences and indexed(o)
        found = 0
        phrases = _phrases(texts)
        assert len(phrases) == 17
        for phrase in phrases:
            seq = [vocab.index(w) if w in vocab else 1 for w in phrase.split()]
            want = [k for k, t in enumerate(texts) if _in_order(rows[k], seq) and phrase in t]
            assert want == [k for k, t in enumerate(texts) if f" {phrase} " in f" {t} "]
            got = np.flatnonzero(search(s, phrase)).tolist()
            assert got == want, phrase
            assert np.flatnonzero(search(o, phrase)).tolist() == want, phrase
            assert np.flatnonzero(search(s, phrase.upper())).tolist() == want
            assert not search(s, phrase.upper(), case_sensitive=True).any()
            found += len(want) > 0
        assert found >= 13
        inside = phrases[-1]
        assert set(np.flatnonzero(search(s, inside, inside_words=True))) > set(
            np.flatnonzero(search(s, inside)))  # only the scan finds it inside a word


def test_a_phrase_reads_only_the_texts_of_its_tokens_in_order(synth, monkeypatch):
    texts, _, _ = _raw(synth)
    with Store(synth) as s:
        phrase = " ".join(texts[77].split()[4:6])
        reads = []
        monkeypatch.setattr(s, "texts", lambda idx: reads.append(list(idx)) or Store.texts(s, idx))
        hits = np.flatnonzero(search(s, phrase)).tolist()
        assert reads == [hits]  # every instance with the tokens in order holds the phrase here


def _word_store(path, texts, tokenizer=True):
    """A store of ``texts`` with one token per word (split at white space), no special
    tokens, so one instance's last token is followed by the next one's first."""
    from attviz.store import Part, StoreMeta, StoreWriter, StringArray
    from attviz.store.synth import word_tokenizer

    words = [t.split() for t in texts]
    vocab = ["[PAD]", "[UNK]"] + sorted({w for ws in words for w in ws})
    n, ids = len(texts), [vocab.index(w) for ws in words for w in ws]
    spans = []
    for t, ws in zip(texts, words):
        at = 0
        for w in ws:
            at = t.index(w, at)
            spans.append((at, at + len(w)))
            at += len(w)
    part = Part(
        token_count=[len(ws) for ws in words], label=[0] * n, prediction=[0] * n,
        probabilities=np.ones((n, 1)), document=list(range(n)), segment=[0] * n,
        text=StringArray.from_list(texts), attention=np.full((len(ids), 1, 1), 0.5),
        token_id=np.array(ids), span=np.array(spans), special=np.zeros(len(ids), bool),
        document_ids=StringArray.from_list([str(k) for k in range(n)]),
        document_row=list(range(n)))
    with StoreWriter(path, StoreMeta(["x"], 1, 1), vocab,
                     tokenizer_json=word_tokenizer(vocab) if tokenizer else None) as w:
        w.append(part)
    return path, vocab


def test_phrases_do_not_match_across_instances_or_inside_words(tmp_path):
    texts = ["ka lo", "mi ne", "lo mi", "kalo mi lo", "lo  mi", "lo\nmi", "mi mi mi",
             "lo mi lo mi"]
    path, vocab = _word_store(tmp_path / "w.h5", texts)
    lo, mi = vocab.index("lo"), vocab.index("mi")
    older = _without_occurrences(path, tmp_path / "older.h5")
    with Store(path) as s, Store(older) as o:
        # the tokens: "ka lo" then "mi ne" are rows 1 and 2, but of two instances
        assert phrase_instances(s, (lo, mi)).tolist() == [2, 4, 5, 7]
        assert phrase_instances(s, (mi, mi)).tolist() == [6]
        assert phrase_instances(s, (mi, lo, mi)).tolist() == [7]
        assert phrase_instances(s, (lo, lo)).tolist() == []
        for store in (s, o):
            # a text must hold the phrase itself (not another white space between its words);
            # "kalo mi lo" holds "lo mi" only inside "kalo": the scan's answer, not the index's
            assert np.flatnonzero(search(store, "lo mi")).tolist() == [2, 7]
            assert np.flatnonzero(search(store, "mi mi")).tolist() == [6]
            assert np.flatnonzero(search(store, "lo mi lo")).tolist() == [7]
            assert np.flatnonzero(search(store, "mi lo")).tolist() == [3, 7]
            assert np.flatnonzero(search(store, "lo mi", inside_words=True)).tolist() == [2, 3, 7]
            assert np.flatnonzero(search(store, "ne lo")).tolist() == []


def test_a_folder_of_shards_finds_phrases_like_one_store(synth, tmp_path):
    folder = split_into_shards(synth, tmp_path / "shards", 400, [2], provenance=False,
                               tokenizer=True)
    texts, _, _ = _raw(synth)
    with open_store(folder) as sharded, Store(synth) as single:
        assert sharded.has_occurrences
        for phrase in _phrases(texts):
            np.testing.assert_array_equal(search(sharded, phrase), search(single, phrase))
        v = single.vocab.index(texts[1200].split()[0])
        np.testing.assert_array_equal(np.concatenate(list(sharded.occurrences(v, block=7))),
                                      np.concatenate(list(single.occurrences(v))))
        assert sharded.occurrence_count(v) == single.occurrence_count(v)


def test_the_index_command_adds_occurrences_to_an_older_store(tmp_path):
    """`attviz index` on the frozen 1.2 store (WordPiece, no occurrences): the occurrences
    as brute force finds them in the token ids, and the same search results."""
    from attviz.cli import main

    path = tmp_path / "old.h5"
    shutil.copy(ROOT / "tests" / "data" / "store-v1.2.h5", path)
    queries = ["to be be", "be be", "with goal", "coach with", "this coach with was",
               "match win score", "final.", "at that", "was this with", "goal striker"]
    with Store(path) as s:
        assert not s.has_occurrences and indexed(s)
        before = {q: search(s, q) for q in queries}
    assert main(["index", str(path), "--no-progress"]) == 0
    with h5py.File(path, "r") as f:
        ids = f[L.TOKEN_ID][:]
    with Store(path) as s:
        assert s.has_occurrences
        for v in range(len(s.vocab)):
            rows = list(s.occurrences(v))
            got = np.concatenate(rows) if rows else np.zeros(0, np.int64)
            assert got.tolist() == np.flatnonzero(ids == v).tolist()
        for q in queries:
            np.testing.assert_array_equal(search(s, q), before[q], err_msg=q)
        assert search(s, "to be be").sum() == 2 and search(s, "be be").sum() == 2


def test_a_store_keeps_its_own_tokenizer_and_the_cache_forgets_closed_stores(synth):
    import gc

    from attviz.store import search as S

    gc.collect()
    before = len(S._tokenizers)
    with Store(synth) as s:
        tok = S.tokenizer_of(s)
        assert tok is not None and S.tokenizer_of(s) is tok
        assert len(S._tokenizers) == before + 1
    del s
    gc.collect()
    # keyed by the store object, not its address: a store opened later at the same address
    # cannot get this one's tokenizer, and closed stores leave nothing behind
    assert len(S._tokenizers) == before
