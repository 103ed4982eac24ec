"""Self-attention diagonals and class probabilities from Hugging Face sequence classifiers.

Names that need torch (everything but ``block`` and ``fingerprint``) are imported on first
use, so that importing this package, e.g. for ``attviz.precompute.extract.block``, loads no torch.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "NAME": "diagonal", "DiagonalStats": "diagonal", "diagonal_attention": "diagonal",
    "register": "diagonal", "BatchResult": "runner", "Extractor": "runner",
    "load_classifier": "runner", "load_model": "runner", "load_tokenizer": "runner",
    "model_provenance": "runner", "resolve_device": "runner",
    "resolve_dtype": "runner",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
