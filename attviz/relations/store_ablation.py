"""Instances of a store re-run with heads switched off, outside the explorer: for the
notebook API (``corpus.ablate``) and ``attviz ablate``. The model is the store's, found and
checked as the explorer finds it (:func:`attviz.relations.models.locate`), or one given."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import UserError
from ..store import BaseStore
from .models import ModelSource, Unavailable, load, locate


def store_model(store: BaseStore, model: str | None = None, model_root: str | None = None,
                device: str = "cpu"):
    """The store's model (or ``model``, a folder or hub id), loaded on ``device`` (eval mode,
    no gradients); a UserError saying why when it cannot be."""
    from ..precompute.extract.runner import resolve_device

    dev = resolve_device(device)
    path = store.path
    near = path if path.is_dir() else path.parent
    try:
        source = ModelSource(model) if model else locate(store.meta.provenance, model_root, near)
        return load(source).to(dev)
    except Unavailable as e:
        raise UserError(str(e)) from None


def token_ids(store: BaseStore, instances: np.ndarray) -> list[np.ndarray]:
    """The token ids of ``instances`` (any order, repeats allowed), one array each."""
    unique, back = np.unique(instances, return_inverse=True)
    counts, ids, _ = store.read_tokens(unique)
    split = np.split(ids, np.cumsum(counts)[:-1]) if len(unique) else []
    return [split[i] for i in back]


def check_instances(instances, n: int) -> np.ndarray:
    """``instances`` (an int or a sequence) as a 1-d int64 array; IndexError outside 0..n-1."""
    idx = np.atleast_1d(np.asarray(instances, dtype=np.int64))
    if idx.ndim != 1:
        raise ValueError("instances: an instance number or a sequence of them")
    bad = idx[(idx < 0) | (idx >= n)]
    if len(bad):
        raise IndexError(f"instance {int(bad[0])} is not in 0..{n - 1}")
    return idx


def check_heads(heads: Sequence, num_layers: int, num_heads: int) -> list[tuple[int, int]]:
    """``heads`` as (layer, head) pairs of this model; ValueError naming a bad one."""
    out = []
    for pair in heads:
        try:
            layer, head = (int(x) for x in pair)
        except (TypeError, ValueError):
            raise ValueError(f"heads: {pair!r} is not a (layer, head) pair") from None
        if not (0 <= layer < num_layers and 0 <= head < num_heads):
            raise ValueError(f"heads: no head ({layer}, {head}); the store has {num_layers} "
                             f"layers x {num_heads} heads")
        out.append((layer, head))
    return out


def ablate_instances(store: BaseStore, model, instances, heads: Sequence,
                     batch_size: int = 16, progress=None) -> np.ndarray:
    """[instances, classes] probabilities of ``instances`` of ``store`` with ``heads`` off,
    in the order given; ``progress(n)`` after each batch."""
    from .ablation import Ablation

    idx = check_instances(instances, store.n_instances)
    pairs = check_heads(heads, store.meta.num_layers, store.meta.num_heads)
    return Ablation(model, token_ids(store, idx), pairs, batch_size).run(progress)
