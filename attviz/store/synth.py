"""Synthetic stores with the real schema, quick to write at any size (for benchmarks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..version import __version__
from . import Part, StoreMeta, StoreWriter, StringArray

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


def _tokens(counts: np.ndarray, vocab_words: list[str], word_len: np.ndarray,
            rng: np.random.Generator):
    """(token ids, special, character spans, texts) of instances of ``counts`` tokens: [CLS]
    words of the made-up vocabulary [SEP], the words joined by single spaces."""
    n, total = len(counts), int(counts.sum())
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
    return token_id, special, span, texts


def _predictions(n: int, classes: int, rng: np.random.Generator):
    """(gold labels, class probabilities) of ``n`` instances; the most probable class is the
    gold one for about 85% of them."""
    label = rng.integers(0, classes, size=n)
    probs = rng.dirichlet(np.ones(classes) * 0.3, size=n).astype(np.float32)
    agree = rng.random(n) < 0.85
    top = probs.argmax(axis=1)
    swap = agree & (top != label)
    r = np.flatnonzero(swap)
    probs[r, top[r]], probs[r, label[r]] = probs[r, label[r]], probs[r, top[r]]
    return label, probs


def synthesize(out: str | Path, instances: int, *, layers: int = 6, heads: int = 12,
               classes: int = 5, max_tokens: int = 128, segments_per_document: int = 4,
               seed: int = 0, part_size: int = 20000, overwrite: bool = False,
               progress: bool = True, precision: int = 16,
               stored_layers: list[int] | None = None, compression: str | None = None
               ) -> Path:
    """Write ``instances`` synthetic instances to the store ``out``.

    Token counts: 70% of instances have ``max_tokens``, the rest uniform in [8, max_tokens].
    Texts are words of a made-up vocabulary with consistent character spans; labels and
    predictions agree ~85% of the time; attention values are tiled from a random pool, with
    structure for the corpus view to find (:func:`add_structure`): a first-token bias, a head
    that fires on 20 particular words, one on a class and one on the model's errors.
    ``precision``, ``stored_layers`` and ``compression`` as ``attviz precompute`` takes them
    (its ``--precision``, ``--layers`` resolved, ``--compression``).
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
    }, stored_layers=stored_layers)
    extra = {"compression": compression} if compression else {}
    pool_pos = 0
    doc_base = 0
    bar = tqdm(total=instances, unit="inst", desc="synth", disable=not progress)
    with StoreWriter(out, meta, vocab, tokenizer_json=word_tokenizer(vocab),
                     expected_instances=instances, precision=precision, **extra) as w:
        for start in range(0, instances, part_size):
            n = min(part_size, instances - start)
            full = rng.random(n) < 0.7
            counts = np.where(full, max_tokens, rng.integers(8, max_tokens + 1, size=n))
            token_id, special, span, texts = _tokens(counts, vocab_words, word_len, rng)
            total = len(token_id)
            idx = (pool_pos + np.arange(total)) % _POOL_ROWS
            pool_pos = (pool_pos + total) % _POOL_ROWS
            att = pool[idx]
            label, probs = _predictions(n, classes, rng)
            add_structure(att, token_id, counts, label, probs.argmax(axis=1), rng)
            first, last = model_masses(att, counts, rng)
            doc = np.arange(n) // segments_per_document
            n_docs = int(doc[-1]) + 1
            seg = np.arange(n) % segments_per_document
            part = Part(
                token_count=counts, label=label, prediction=probs.argmax(axis=1),
                probabilities=probs, document=doc, segment=seg,
                text=StringArray.from_list(texts), attention=att, token_id=token_id,
                span=span, special=special,
                document_ids=StringArray.from_list([f"doc{doc_base + d}" for d in range(n_docs)]),
                document_row=doc_base + np.arange(n_docs), first_mass=first, last_mass=last,
            )
            w.append(part if meta.all_layers else some_layers(part, meta, len(vocab)))
            doc_base += n_docs
            bar.update(n)
    bar.close()
    return out


def some_layers(part: Part, meta: StoreMeta, vocab_size: int) -> Part:
    """``part`` (every layer) as a store of ``meta.stored_layers`` takes it: the statistics
    and profile sums of every layer, the diagonals of the stored ones."""
    from dataclasses import replace

    from .derive import Profiles, self_statistics

    full = part.attention.astype(np.float32)
    sums = Profiles(meta.num_classes, meta.num_layers, meta.num_heads, vocab_size)
    sums.add(part.label, part.prediction, part.token_count, part.token_id, full, {})
    return replace(part, attention=part.attention[:, meta.layers], profile_sums=sums.sums(),
                   **self_statistics(full, part.special, part.token_count))


def word_tokenizer(vocab: list[str]) -> bytes | None:
    """tokenizer.json of a word-level tokenizer over ``vocab`` (the synthetic texts are
    words between spaces), so that synthetic stores have an indexed text search; None
    without the ``tokenizers`` package."""
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers
    except ImportError:
        return None
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok.to_str().encode("utf-8")


FIRST_WORD = 5  # token id of the first vocabulary word; the 20 from here are "topic words"
TOPIC_WORDS = 20


def structured_heads(layers: int, heads: int) -> dict[str, tuple[int, int]]:
    """The (layer, head) of each planted pattern: first token, topic words, class, errors."""
    return {"topic": (min(2, layers - 1), 5 % heads), "class": (max(0, layers - 2), 1 % heads),
            "error": (layers - 1, 3 % heads)}


def add_structure(att: np.ndarray, token_id: np.ndarray, counts: np.ndarray,
                  label: np.ndarray, prediction: np.ndarray, rng: np.random.Generator) -> None:
    """Plant patterns in ``att`` ([tokens, layers, heads] float16, in place): every head of
    the upper half of the layers attends strongly to the first token; the "topic" head fires
    on the 20 topic words; the "class" head is raised in instances predicted as class 0;
    the "error" head is lowered in misclassified instances."""
    layers, heads = att.shape[1:]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    inst = np.repeat(np.arange(len(counts)), counts)
    upper = slice(layers // 2, layers)
    att[starts, upper, :] = (0.55 + 0.4 * rng.random((len(starts), layers - layers // 2, heads))
                             ).astype(np.float16)
    where = structured_heads(layers, heads)
    topic = (token_id >= FIRST_WORD) & (token_id < FIRST_WORD + TOPIC_WORDS)
    layer, h = where["topic"]
    att[topic, layer, h] = (0.7 + 0.25 * rng.random(int(topic.sum()))).astype(np.float16)
    layer, h = where["class"]
    raised = (prediction == 0)[inst]
    att[raised, layer, h] = np.minimum(1.0, att[raised, layer, h].astype(np.float32) * 2.5 + 0.1)
    layer, h = where["error"]
    wrong = ((label != prediction) & (label >= 0))[inst]
    att[wrong, layer, h] = (att[wrong, layer, h].astype(np.float32) * 0.3).astype(np.float16)


def model_masses(att: np.ndarray, counts: np.ndarray, rng: np.random.Generator):
    """Stand-ins for the model-only statistics first_mass and last_mass ([instances, layers,
    heads] float16): the first token's self-attention scaled, and a small random mass."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    first = np.clip(att[starts].astype(np.float32) * 0.8 + 0.05 * rng.random(att[starts].shape),
                    0, 1)
    last = 0.02 + 0.08 * rng.random(first.shape)
    return first.astype(np.float16), last.astype(np.float16)
