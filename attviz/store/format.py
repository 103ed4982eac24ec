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
# Root attributes a store may have that are not provenance (1.2)
STORED_LAYERS = "stored_layers"
LAYOUT_ATTRS = (STORED_LAYERS,)

CHUNK_CACHE_BYTES = 4 << 20  # reader's HDF5 chunk cache per dataset


@dataclass
class StoreMeta:
    """What a store says about itself at its root.

    num_layers: the model's layers (statistics and profiles cover them all); stored_layers:
    the model layer numbers whose diagonals ``/attention/self`` holds, ascending (None:
    every layer, as in stores before format 1.2).
    """

    label_names: list[str]
    num_layers: int
    num_heads: int
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: str = FORMAT_VERSION
    stored_layers: list[int] | None = None

    def __post_init__(self) -> None:
        if self.stored_layers is not None:
            layers = [int(x) for x in self.stored_layers]
            if (not layers or layers != sorted(set(layers)) or layers[0] < 0
                    or layers[-1] >= self.num_layers):
                raise ValueError(f"stored layers {layers} are not ascending model layer numbers "
                                 f"of 0..{self.num_layers - 1}")
            self.stored_layers = None if layers == list(range(self.num_layers)) else layers

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def layers(self) -> list[int]:
        """The model layer numbers of the stored diagonals (axis 1 of the attention)."""
        return (list(self.stored_layers) if self.stored_layers is not None
                else list(range(self.num_layers)))

    @property
    def all_layers(self) -> bool:
        """Whether the diagonals of every layer are stored."""
        return self.stored_layers is None

    def stored_index(self, layer: int) -> int | None:
        """Where model layer ``layer`` sits among the stored layers (None: not stored)."""
        layers = self.layers
        return layers.index(layer) if layer in layers else None

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
        if self.layers != other.layers:
            problems.append(f"stored layers {self.layers} != {other.layers}")
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
