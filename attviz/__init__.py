"""attviz: precompute and explore per-head self-attention of transformer classifiers."""

__version__ = "0.1.0"
