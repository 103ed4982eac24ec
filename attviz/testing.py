"""Tiny models, tokenizers and corpora built offline, for tests, examples and benchmarks."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = {
    "sport": "match goal team coach league season striker keeper cup final score win",
    "tech": "software chip phone network data computer internet robot code cloud user app",
    "business": "shares market profit bank growth firm sales price deal economy stock trade",
}
FILLER = "the a of and to in on for with at by from this that is was it as be are"


def make_tokenizer(texts: list[str] | None = None, vocab_size: int = 300):
    """A lower-casing BERT-style WordPiece tokenizer whose vocabulary comes from ``texts``,
    the same in every process: the special tokens, every character (alone and as a word's
    continuation ``##c``), then the words in the order they first appear, up to
    ``vocab_size`` entries. (A trained WordPiece vocabulary breaks ties between merges
    differently from process to process, and with it the token ids and a model trained
    on them.)"""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    texts = texts or [" ".join(WORDS.values()) + " " + FILLER
                      + " . , ! ? ; : ' \" ( ) - £ $ % 0 1 2 3 4 5 6 7 8 9"] * 4
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = list(dict.fromkeys(w for t in texts
                               for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(t))))
    chars = sorted({c for w in words for c in w})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    entries = list(dict.fromkeys(specials + chars + [f"##{c}" for c in chars] + words))
    vocab = {w: i for i, w in enumerate(entries[:vocab_size])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
    )


def make_model(labels: list[str], vocab_size: int, *, layers: int = 2, heads: int = 4,
               hidden: int = 64, seed: int = 0, max_positions: int = 512):
    """A randomly initialised BertForSequenceClassification with ``labels`` as id2label."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden * 2,
        max_position_embeddings=max_positions, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
    )
    return BertForSequenceClassification(cfg).eval()


FAMILIES = ("bert", "llama", "mistral", "modernbert")


def make_family_model(family: str, labels: list[str], vocab_size: int, *, layers: int = 2,
                      heads: int = 4, kv_heads: int | None = None, hidden: int = 64,
                      seed: int = 0, max_positions: int = 512, window: int = 8,
                      special: dict[str, int] | None = None):
    """A randomly initialised classifier of ``family`` (one of FAMILIES): BERT; Llama
    (causal, ``kv_heads`` key/value heads: grouped-query attention); Mistral (causal, a
    sliding window of ``window`` tokens); ModernBERT (bidirectional, local attention of
    ``window`` tokens in two of every three layers, rotary positions: long inputs).
    ``special``: the tokenizer's ids of pad, cls and sep."""
    import torch
    import transformers as T

    if family == "bert":
        return make_model(labels, vocab_size, layers=layers, heads=heads, hidden=hidden,
                          seed=seed, max_positions=max_positions)
    special = special or {"pad": 0, "cls": 2, "sep": 3}
    common = dict(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                  num_attention_heads=heads, intermediate_size=hidden * 2,
                  max_position_embeddings=max_positions, num_labels=len(labels),
                  id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
                  pad_token_id=special["pad"])
    torch.manual_seed(seed)
    if family == "llama":
        cfg = T.LlamaConfig(num_key_value_heads=kv_heads or heads, **common)
        return T.LlamaForSequenceClassification(cfg).eval()
    if family == "mistral":
        cfg = T.MistralConfig(num_key_value_heads=kv_heads or heads, sliding_window=window,
                              **common)
        return T.MistralForSequenceClassification(cfg).eval()
    if family == "modernbert":
        cfg = T.ModernBertConfig(local_attention=window, global_attn_every_n_layers=3,
                                 bos_token_id=special["cls"], cls_token_id=special["cls"],
                                 eos_token_id=special["sep"], sep_token_id=special["sep"],
                                 **common)
        return T.ModernBertForSequenceClassification(cfg).eval()
    raise ValueError(f"family {family!r}: one of {', '.join(FAMILIES)}")


def save_tiny_classifier(folder: str | Path, labels: list[str] | None = None, *,
                         texts: list[str] | None = None, family: str = "bert",
                         max_length: int = 512, **model_kw) -> Path:
    """Write a tiny classifier of ``family`` and its tokenizer to ``folder`` (loadable by
    from_pretrained); ``max_length``: the tokenizer's model_max_length."""
    folder = Path(folder)
    labels = labels or list(WORDS)
    tok = make_tokenizer(texts)
    tok.model_max_length = max_length
    ids = {"pad": tok.pad_token_id, "cls": tok.cls_token_id, "sep": tok.sep_token_id}
    model = make_family_model(family, labels, len(tok), special=ids, **model_kw)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_documents(n: int, seed: int = 0, min_words: int = 5, max_words: int = 120,
                   classes: list[str] | None = None) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs of topical words mixed with filler, of varied length."""
    rng = random.Random(seed)
    classes = classes or list(WORDS)
    filler = FILLER.split()
    docs = []
    for _ in range(n):
        label = rng.choice(classes)
        vocab = WORDS.get(label, WORDS["tech"]).split()
        k = rng.randint(min_words, max_words)
        words = [rng.choice(vocab) if rng.random() < 0.4 else rng.choice(filler) for _ in range(k)]
        docs.append((" ".join(words).capitalize() + ".", label))
    return docs


def train_tiny_classifier(folder: str | Path, labels: list[str] | None = None, *,
                          steps: int = 40, seed: int = 0, **model_kw) -> Path:
    """Like :func:`save_tiny_classifier`, but trained for ``steps`` steps (batches of 16
    documents of up to 32 tokens, AdamW) on :func:`make_documents`, so that its predictions
    depend on the words and on its heads (switching heads off changes some). One torch
    thread while training: the same weights on every machine."""
    import numpy as np
    import torch

    folder = Path(folder)
    labels = labels or list(WORDS)
    tok = make_tokenizer()
    model = make_model(labels, len(tok), seed=seed, **model_kw)
    docs = make_documents(400, seed=seed + 5, max_words=25, classes=labels)
    ids = [np.asarray(tok(t, truncation=True, max_length=32)["input_ids"]) for t, _ in docs]
    y = torch.tensor([labels.index(label) for _, label in docs])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(steps):
            batch = rng.choice(len(ids), 16, replace=False)
            width = max(len(ids[i]) for i in batch)
            x = torch.zeros((16, width), dtype=torch.long)
            mask = torch.zeros_like(x)
            for j, i in enumerate(batch):
                x[j, : len(ids[i])] = torch.from_numpy(ids[i])
                mask[j, : len(ids[i])] = 1
            model(input_ids=x, attention_mask=mask, labels=y[batch]).loss.backward()
            opt.step()
            opt.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
