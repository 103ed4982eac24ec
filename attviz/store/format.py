"""Names, versions and layout constants of the attviz HDF5 store (docs/format.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import dims

FORMAT_NAME = "attviz"
FORMAT_VERSION = "1.0"
MAJOR, MINOR = (int(x) for x in FORMAT_VERSION.split("."))

# Per token
ATTENTION = "/attention/self"
TOKEN_ID = "/tokens/id"
TOKEN_SPAN = "/tokens/span"
TOKEN_SPECIAL = "/tokens/special"
# Per instance
TOKEN_START = "/instances/token_start"
LABEL = "/instances/label"
PREDICTION = "/instances/prediction"
PROBABILITIES = "/instances/probabilities"
DOCUMENT = "/instances/document"
SEGMENT = "/instances/segment"
TEXT = "/instances/text"  # string array group
# Per document
DOCUMENT_ID = "/documents/id"  # string array group
DOCUMENT_ROW = "/documents/row"
# Vocabulary
VOCAB_TOKEN = "/vocab/token"  # string array group, index = token id

STRING_ENCODING = "string-array"
STRING_ENCODING_VERSION = "1.0"

DIMS = {
    ATTENTION: (dims.TOKENS, dims.LAYERS, dims.HEADS),
    TOKEN_ID: (dims.TOKENS,),
    TOKEN_SPAN: (dims.TOKENS, dims.SPAN),
    TOKEN_SPECIAL: (dims.TOKENS,),
    LABEL: (dims.INSTANCES,),
    PREDICTION: (dims.INSTANCES,),
    PROBABILITIES: (dims.INSTANCES, dims.CLASSES),
    DOCUMENT: (dims.INSTANCES,),
    SEGMENT: (dims.INSTANCES,),
    DOCUMENT_ROW: (dims.DOCUMENTS,),
}

# Root attributes every store has; everything else at the root is provenance.
CORE_ATTRS = ("format", "format_version", "label_names", "num_layers", "num_heads")

# Chunking (reasoning and measurements in docs/format.md).
ATTENTION_CHUNK_BYTES = 160 * 1024  # at most 160 KiB of float16 per chunk (1024 rows at 6x12)
ATTENTION_COMPRESSION = None  # float16 attention does not compress (LZF 1.00, gzip 0.91)
COLUMN_CHUNK = 65536  # entries per chunk of 1-d per-token / per-instance datasets
STRING_CHUNK = 1 << 18  # bytes per chunk of string data (a few hundred texts)
CHUNK_CACHE_BYTES = 4 << 20  # reader's HDF5 chunk cache per dataset
COMPRESSION = "lzf"  # for ids, spans, flags and text


def attention_chunk_rows(num_layers: int, num_heads: int) -> int:
    """Token rows per attention chunk: a power of two near ATTENTION_CHUNK_BYTES."""
    per_row = max(1, num_layers * num_heads * 2)
    rows = 1
    while rows * 2 * per_row <= ATTENTION_CHUNK_BYTES:
        rows *= 2
    return rows


@dataclass
class StoreMeta:
    """What a store says about itself at its root."""

    label_names: list[str]
    num_layers: int
    num_heads: int
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: str = FORMAT_VERSION

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def compatible_with(self, other: StoreMeta) -> list[str]:
        """Differences that forbid putting instances of both stores into one store."""
        problems = []
        if list(self.label_names) != list(other.label_names):
            problems.append(f"label names {self.label_names} != {other.label_names}")
        if (self.num_layers, self.num_heads) != (other.num_layers, other.num_heads):
            problems.append(
                f"layers x heads {self.num_layers}x{self.num_heads} != "
                f"{other.num_layers}x{other.num_heads}"
            )
        for key in ("model", "model_weights_sha256", "tokenizer_sha256"):
            a, b = self.provenance.get(key), other.provenance.get(key)
            if a and b and a != b:
                problems.append(f"{key} {a!r} != {b!r}")
        return problems


def encode_attr(value: Any) -> Any:
    """Provenance values as HDF5 attributes: scalars and lists of str as is, the rest JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)  # plain str, also for subclasses such as torch's version string
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return json.dumps(value, sort_keys=True)
