"""Self-attention diagonals and class probabilities from Hugging Face sequence classifiers."""

from .diagonal import NAME, STATS, diagonal_attention, register
from .runner import (
    BatchResult,
    Extractor,
    load_classifier,
    model_provenance,
    resolve_device,
    resolve_dtype,
)

__all__ = [
    "NAME", "STATS", "diagonal_attention", "register", "BatchResult", "Extractor",
    "load_classifier", "model_provenance", "resolve_device", "resolve_dtype",
]
