"""Synthetic stores with the real schema, quick to write at any size (for benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import __version__
from .store import Part, StoreMeta, StoreWriter, StringArray

_SYLLABLES = "ka lo mi ne ru sa ti vo be da fe gu hi jo"
_POOL_ROWS = 1 << 16  # distinct attention rows, tiled over all tokens


def _words(n: int, rng: np.random.Generator) -> list[str]:
    syl = _SYLLABLES.split()
    out, seen = [], set()
    while len(out) < n:
        w = "".join(rng.choice(syl, size=rng.integers(1, 4)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def synthesize(out: str | Path, instances: int, *, layers: int = 6, heads: int = 12,
               classes: int = 5, max_tokens: int = 128, segments_per_document: int = 4,
               seed: int = 0, part_size: int = 20000, overwrite: bool = False,
               progress: bool = True) -> Path:
    """Write ``instances`` synthetic instances to the store ``out``.

    Token counts: 70% of instances have ``max_tokens``, the rest uniform in [8, max_tokens].
    Texts are words of a made-up vocabulary with consistent character spans; labels and
    predictions agree ~85% of the time; attention values are tiled from a random pool.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    rng = np.random.default_rng(seed)
    vocab_words = _words(2000, rng)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + vocab_words
    word_len = np.array([len(w) for w in vocab_words], dtype=np.int64)
    pool = (rng.random((_POOL_ROWS, layers, heads), dtype=np.float32) ** 3).astype(np.float16)
    names = [f"class_{i}" for i in range(classes)]
    meta = StoreMeta(names, layers, heads, {
        "model": "synthetic", "attviz_version": __version__, "synthetic_seed": seed,
        "attention_path": "synthetic", "max_length": max_tokens, "stride": 0,
    })
    pool_pos = 0
    doc_base = 0
    bar = tqdm(total=instances, unit="inst", desc="synth", disable=not progress)
    with StoreWriter(out, meta, vocab) as w:
        for start in range(0, instances, part_size):
            n = min(part_size, instances - start)
            full = rng.random(n) < 0.7
            counts = np.where(full, max_tokens, rng.integers(8, max_tokens + 1, size=n))
            total = int(counts.sum())
            inner = counts - 2
            # word index per non-special token
            words = rng.integers(0, len(vocab_words), size=int(inner.sum()))
            token_id = np.empty(total, dtype=np.int32)
            special = np.zeros(total, dtype=bool)
            span = np.full((total, 2), -1, dtype=np.int32)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            special[starts] = True
            special[starts + counts - 1] = True
            token_id[starts] = 2
            token_id[starts + counts - 1] = 3
            inner_pos = np.flatnonzero(~special)
            token_id[inner_pos] = words + 5
            lens = word_len[words]
            # character offsets within each instance: words joined by single spaces
            inst_of_word = np.repeat(np.arange(n), inner)
            ends = np.cumsum(lens + 1)
            word_first = np.concatenate([[0], np.cumsum(inner)[:-1]])
            base = np.concatenate([[0], ends])[word_first]
            s = ends - lens - 1 - base[inst_of_word]
            span[inner_pos, 0] = s
            span[inner_pos, 1] = s + lens
            texts = []
            wl = words.tolist()
            off = 0
            for k in inner.tolist():
                texts.append(" ".join(vocab_words[i] for i in wl[off : off + k]))
                off += k
            idx = (pool_pos + np.arange(total)) % _POOL_ROWS
            pool_pos = (pool_pos + total) % _POOL_ROWS
            att = pool[idx]
            label = rng.integers(0, classes, size=n)
            probs = rng.dirichlet(np.ones(classes) * 0.3, size=n).astype(np.float32)
            agree = rng.random(n) < 0.85
            top = probs.argmax(axis=1)
            # make the argmax the gold label for ~85% of instances
            swap = agree & (top != label)
            r = np.flatnonzero(swap)
            probs[r, top[r]], probs[r, label[r]] = probs[r, label[r]], probs[r, top[r]]
            doc = np.arange(n) // segments_per_document
            n_docs = int(doc[-1]) + 1
            seg = np.arange(n) % segments_per_document
            w.append(Part(
                token_count=counts, label=label, prediction=probs.argmax(axis=1),
                probabilities=probs, document=doc, segment=seg,
                text=StringArray.from_list(texts), attention=att, token_id=token_id,
                span=span, special=special,
                document_ids=StringArray.from_list([f"doc{doc_base + d}" for d in range(n_docs)]),
                document_row=doc_base + np.arange(n_docs),
            ))
            doc_base += n_docs
            bar.update(n)
    bar.close()
    return out
