"""The store format's name and version, and what a store says about itself at its root."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMAT_NAME = "attviz"
FORMAT_VERSION = "1.2"
MAJOR, MINOR = (int(x) for x in FORMAT_VERSION.split("."))

STRING_ENCODING = "string-array"
STRING_ENCODING_VERSION = "1.0"

# Root attributes every store has; everything else at the root is provenance.
CORE_ATTRS = ("format", "format_version", "label_names", "num_layers", "num_heads")

CHUNK_CACHE_BYTES = 4 << 20  # reader's HDF5 chunk cache per dataset


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
