"""Text search over a store: with the store's token index, or by scanning every text.

With an index (format 1.1, and the ``tokenizers`` package to tokenize the query with the
store's own tokenizer), the query's tokens select candidates by intersecting their
posting lists, and only candidates are checked for the substring. That finds the query
wherever the text holds its tokens: as whole words, or as the start of a longer word
that the tokenizer splits the same way. A query that only occurs inside other tokens
(``cat`` in ``concatenate``) is found by the scan (``inside_words=True``). Case-insensitive
search with a cased tokenizer takes the union over the query's case variants. A query of
one token needs no check at all when the tokenizer keeps the text's characters (no
normalizer, or only lower-casing for a case-insensitive search): every text holding the
token holds the query.
"""

from __future__ import annotations

import json

import numpy as np

from . import BaseStore

_tokenizers: dict[int, object] = {}  # id(store) -> tokenizers.Tokenizer (or None)


def tokenizer_of(store: BaseStore):
    """The store's tokenizer (a ``tokenizers.Tokenizer``), or None without one."""
    key = id(store)
    if key not in _tokenizers:
        tok = None
        raw = store.tokenizer_json()
        if raw:
            try:
                from tokenizers import Tokenizer

                tok = Tokenizer.from_str(raw.decode("utf-8"))
            except Exception:  # noqa: BLE001 - no package or an unreadable file: scan instead
                tok = None
        _tokenizers[key] = tok
    return _tokenizers[key]


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


def candidates(store: BaseStore, query: str, case_sensitive: bool) -> np.ndarray:
    """Sorted instances that hold every token of the query (for some variant)."""
    tok = tokenizer_of(store)
    found: list[np.ndarray] = []
    seen: set[tuple[int, ...]] = set()
    for form in variants(query, case_sensitive):
        ids = tuple(sorted(set(tok.encode(form, add_special_tokens=False).ids)))
        if not ids or ids in seen:
            continue
        seen.add(ids)
        lists = sorted((store.postings(i) for i in ids), key=len)
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
    else:
        mask[cand[contains(store.texts(cand), query, case_sensitive)]] = True
    return mask
