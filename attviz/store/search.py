"""Text search over a store: with the store's token index, or by scanning every text.

With an index (format 1.1, and the ``tokenizers`` package to tokenize the query with the
store's own tokenizer), an instance matches when its tokens hold the query's tokens one
after another and its text holds the query: as whole words, or as the start of a longer
word that the tokenizer splits the same way. A query that only occurs inside other tokens
(``cat`` in ``concatenate``, ``lo mi`` in ``kalo mi``) is found by the scan
(``inside_words=True``). Case-insensitive search with a cased tokenizer takes the union over
the query's case variants.

Where the index says where each token occurs (1.2), a query of several tokens intersects
those rows (the rarest token's first, the others read in blocks) and only the instances
holding the tokens in order have their texts checked. Without it, the instances holding
every token (their posting lists intersected) have their texts checked, and those that
hold the query, their token ids. The text check stays: tokens in order do not say which
characters lie between them (a newline, two spaces, an accent a normaliser removed). A
query of one token needs no check at all when the tokenizer keeps the text's characters
(no normalizer, or only lower-casing for a case-insensitive search): every text holding the
token holds the query.
"""

from __future__ import annotations

import json
import weakref

import numpy as np

from . import BaseStore

# store -> tokenizers.Tokenizer (or None), for as long as the store object lives: keyed by
# id(store), a store opened after another was freed could get its address, and so the
# other's tokenizer
_tokenizers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_of(store: BaseStore):
    """The store's tokenizer (a ``tokenizers.Tokenizer``), or None without one."""
    if store not in _tokenizers:
        tok = None
        raw = store.tokenizer_json()
        if raw:
            try:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(raw.decode("utf-8"))
            except Exception:  # noqa: BLE001 - no package or an unreadable file: scan instead
                tok = None
        _tokenizers[store] = tok
    return _tokenizers[store]


def indexed(store: BaseStore) -> bool:
    """Whether ``search`` can use the token index of ``store``."""
    return store.postings(0) is not None and tokenizer_of(store) is not None


def variants(query: str, case_sensitive: bool) -> list[str]:
    """The spellings whose tokens are looked up: the query, after a space (tokenizers that
    mark a word's first piece), and for case-insensitive search its case variants."""
    forms = [query] if case_sensitive else list(dict.fromkeys(
        [query, query.lower(), query.upper(), query.title(), query.capitalize()]))
    return forms + [" " + f for f in forms if not f.startswith(" ")]


def keeps_characters(store: BaseStore, case_sensitive: bool) -> bool:
    """Whether the store's tokenizer leaves the text's characters as they are (no
    normalizer; lower-casing only, when case does not matter)."""
    raw = store.tokenizer_json()
    try:
        norm = json.loads(raw).get("normalizer") if raw else {}
    except ValueError:
        return False
    return norm is None or (not case_sensitive and norm.get("type") == "Lowercase")


def single_tokens(store: BaseStore, query: str, case_sensitive: bool) -> bool:
    """Whether every spelling of ``query`` whose tokens occur in the store is one token that
    reads as the query (spellings with a token no instance holds find nothing)."""
    tok = tokenizer_of(store)
    fold = (lambda x: x) if case_sensitive else str.casefold
    for form in variants(query, case_sensitive):
        ids = tok.encode(form, add_special_tokens=False).ids
        if any(len(store.postings(i)) == 0 for i in ids):
            continue
        if len(ids) != 1 or fold(tok.decode(ids).strip()) != fold(form.strip()):
            return False
    return True


def sequences(store: BaseStore, query: str, case_sensitive: bool) -> list[tuple[int, ...]]:
    """The token ids of each spelling of the query (:func:`variants`), in order, each once."""
    tok = tokenizer_of(store)
    seqs = (tuple(tok.encode(f, add_special_tokens=False).ids)
            for f in variants(query, case_sensitive))
    return [s for s in dict.fromkeys(seqs) if s]


def _followed(starts: np.ndarray, blocks, j: int) -> np.ndarray:
    """The ``starts`` (ascending) s for which s + j is one of the ascending ``blocks``."""
    want, keep = starts + j, np.zeros(len(starts), bool)
    for rows in blocks:
        if not len(want) or rows[0] > want[-1]:
            break  # the rest lies beyond every start
        lo, hi = np.searchsorted(want, rows[0]), np.searchsorted(want, rows[-1], "right")
        at = np.minimum(np.searchsorted(rows, want[lo:hi]), len(rows) - 1)
        keep[lo:hi] = rows[at] == want[lo:hi]
    return starts[keep]


def phrase_instances(store: BaseStore, seq: tuple[int, ...]) -> np.ndarray:
    """Sorted instances whose tokens hold ``seq`` one after another, from where each token
    occurs (:attr:`BaseStore.has_occurrences`): the rows of the rarest token, shifted to
    where the sequence would start, kept where every other token follows at its offset."""
    by_count = sorted(range(len(seq)), key=lambda j: store.occurrence_count(seq[j]))
    first = by_count[0]
    starts = np.concatenate([np.zeros(0, np.int64), *store.occurrences(seq[first])]) - first
    for j in by_count[1:]:
        starts = _followed(starts, store.occurrences(seq[j]), j)
    ts = store.columns.token_start
    inst = np.searchsorted(ts, starts, "right") - 1
    return np.unique(inst[starts + len(seq) <= ts[inst + 1]])  # not across an instance's end


def holds_sequence(store: BaseStore, indices: np.ndarray, seqs: list[tuple[int, ...]]
                   ) -> np.ndarray:
    """[indices] bool: whose tokens (read from the store) hold one of ``seqs`` in order."""
    counts, ids = store.read_token_ids(indices)
    ts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    inst = np.repeat(np.arange(len(indices)), counts)
    out = np.zeros(len(indices), bool)
    for seq in seqs:
        n = len(ids) - len(seq) + 1
        if n <= 0:
            continue
        at = np.ones(n, bool)
        for j, t in enumerate(seq):
            at &= ids[j : j + n] == t
        starts = np.flatnonzero(at)
        out[inst[starts][starts + len(seq) <= ts[inst[starts] + 1]]] = True
    return out


def candidates(store: BaseStore, query: str, case_sensitive: bool) -> np.ndarray:
    """Sorted instances that hold the tokens of the query (for some spelling): one after
    another where the store knows where each token occurs, else anywhere."""
    found: list[np.ndarray] = []
    for seq in sequences(store, query, case_sensitive):
        if len(seq) > 1 and store.has_occurrences:
            found.append(phrase_instances(store, seq))
            continue
        lists = sorted((store.postings(i) for i in set(seq)), key=len)
        hit = lists[0]
        for other in lists[1:]:
            hit = hit[np.isin(hit, other, assume_unique=True)]
        found.append(hit)
    return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


def contains(texts: list[str], query: str, case_sensitive: bool) -> np.ndarray:
    """[texts] bool: whose text contains ``query`` (ignoring case as the scan does)."""
    if case_sensitive:
        return np.fromiter((query in t for t in texts), bool, len(texts))
    if query.isascii():
        q = query.lower()
        return np.fromiter((q in t.lower() for t in texts), bool, len(texts))
    q = query.casefold()
    return np.fromiter((q in t.casefold() for t in texts), bool, len(texts))


def search(store: BaseStore, query: str, case_sensitive: bool = False,
           inside_words: bool = False) -> np.ndarray:
    """[instances] bool: the instances whose text contains ``query`` (see the module)."""
    if not query or inside_words or not indexed(store):
        return store.search_text(query, case_sensitive)
    cand = candidates(store, query, case_sensitive)
    mask = np.zeros(store.n_instances, dtype=bool)
    if not len(cand):
        return mask
    if keeps_characters(store, case_sensitive) and single_tokens(store, query, case_sensitive):
        mask[cand] = True  # the token is the query's characters: no text to check
        return mask
    hits = cand[contains(store.texts(cand), query, case_sensitive)]
    seqs = sequences(store, query, case_sensitive)
    if not store.has_occurrences and any(len(s) > 1 for s in seqs):
        hits = hits[holds_sequence(store, hits, seqs)]  # tokens one after another
    mask[hits] = True
    return mask
