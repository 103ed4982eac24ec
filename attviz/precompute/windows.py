"""Splitting documents into model inputs: windows of at most ``max_length`` tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass
class Segments:
    """Windows of a list of documents, in document order then window order.

    document: [instances] int64 index into the documents given
    segment: [instances] int32 window index within its document
    input_ids: [instances] arrays [tokens] int32 (special tokens included)
    spans: [instances] arrays [tokens, span] int32, character offsets into ``text``; -1 where
        a token has no characters (special tokens)
    special: [instances] arrays [tokens] bool
    text: [instances] the document text the window covers (first to last token's character)
    """

    document: np.ndarray
    segment: np.ndarray
    input_ids: list[np.ndarray]
    spans: list[np.ndarray]
    special: list[np.ndarray]
    text: list[str]

    def __len__(self) -> int:
        return len(self.document)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self))


def model_max_length(tokenizer, config) -> int:
    """The longest input the model takes (position embeddings and tokenizer agree)."""
    limits = []
    n_pos = getattr(config, "max_position_embeddings", None)
    if isinstance(n_pos, int) and n_pos > 0:
        # RoBERTa-style models offset positions by padding_idx + 1.
        offset = (getattr(config, "pad_token_id", 0) or 0) + 1 if config.model_type in (
            "roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text") else 0
        limits.append(n_pos - offset)
    tml = getattr(tokenizer, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < 1_000_000:
        limits.append(tml)
    return min(limits) if limits else 512


def check_window(tokenizer, config, max_length: int, stride: int) -> None:
    """Raise UserError with advice when ``max_length``/``stride`` cannot work for the model."""
    limit = model_max_length(tokenizer, config)
    if max_length > limit:
        raise UserError(f"--max-length {max_length} is more than the model takes ({limit} tokens)")
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    if max_length <= specials:
        raise UserError(f"--max-length {max_length} leaves no room next to {specials} "
                        "special tokens")
    if stride < 0 or stride >= max_length - specials:
        raise UserError(
            f"--stride {stride} must be at least 0 and less than --max-length minus the "
            f"{specials} special tokens ({max_length - specials})"
        )


def segment_documents(
    tokenizer, texts: list[str], max_length: int, stride: int = 0, batch: int = 256
) -> Segments:
    """Tokenize ``texts`` into windows of at most ``max_length`` tokens overlapping ``stride``.

    Needs a fast (Rust) tokenizer, for character offsets.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"{type(tokenizer).__name__} is not a fast tokenizer; attviz needs character offsets, "
            "which only fast tokenizers give (tokenizer.json)"
        )
    document, segment, ids_out, spans_out, special_out, text_out = [], [], [], [], [], []
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        enc = tokenizer(
            chunk, truncation=True, max_length=max_length, stride=stride,
            return_overflowing_tokens=True, return_offsets_mapping=True,
            return_special_tokens_mask=True, return_attention_mask=False,
            return_token_type_ids=False,
        )
        mapping = enc["overflow_to_sample_mapping"]
        last_doc, seg = -1, 0
        for w, d in enumerate(mapping):
            seg = seg + 1 if d == last_doc else 0
            last_doc = d
            ids = np.asarray(enc["input_ids"][w], dtype=np.int32)
            special = np.asarray(enc["special_tokens_mask"][w], dtype=bool)
            offs = np.asarray(enc["offset_mapping"][w], dtype=np.int64).reshape(-1, 2)
            real = ~special
            if real.any():
                base, end = int(offs[real, 0].min()), int(offs[real, 1].max())
            else:
                base = end = 0
            spans = np.where(real[:, None], offs - base, -1).astype(np.int32)
            document.append(start + d)
            segment.append(seg)
            ids_out.append(ids)
            spans_out.append(spans)
            special_out.append(special)
            text_out.append(chunk[d][base:end])
    return Segments(
        document=np.asarray(document, dtype=np.int64),
        segment=np.asarray(segment, dtype=np.int32),
        input_ids=ids_out, spans=spans_out, special=special_out, text=text_out,
    )
