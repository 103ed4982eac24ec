"""The notebook API: a store opened read-only as pandas / xarray objects, and the explorer
as a Panel object that shows inline in Jupyter.

    import attviz
    corpus = attviz.open("bbc-heldout.h5")
    corpus.instances.query("not correct").head()
    corpus.attention(42).sel(layers=5).mean("heads")
    corpus.head_stats("self_mean").mean("instances")
    corpus.head_stats("importance").mean("instances")    # dL/dg per head (--importance)
    corpus.ablate([3, 7], heads=[(3, 7), (5, 1)])         # probabilities with heads off
    attviz.explorer("bbc-heldout.h5")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import dims
from .store import BaseStore, Instance, StoreError, open_store
from .store.layout import HEAD_STAT_NAMES, SELF_STAT_NAMES
from .store.search import search


class StoreReader:
    """A store (a file or a folder of shard stores), read-only.

    Opening reads the per-instance columns only; per-token data is read when asked for.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.store: BaseStore = open_store(self.path)
        self._instances: pd.DataFrame | None = None

    # -- per instance ---------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return self.store.label_names

    @property
    def instances(self) -> pd.DataFrame:
        """One row per instance (index: the instance number, as in the explorer's ``id``).

        Columns: ``document`` (the corpus id), ``segment``, ``gold`` and ``predicted``
        (categorical, the label names; gold is missing where the corpus has no label),
        ``confidence`` (the largest class probability), ``correct`` (nullable boolean,
        missing where gold is unknown) and ``tokens`` (count, special tokens included).
        """
        if self._instances is None:
            c = self.store.columns
            names = self.label_names
            correct = pd.array(c.correct, dtype="boolean")
            correct[c.label < 0] = pd.NA
            doc_ids = np.array(self.store.document_ids(np.arange(self.store.n_documents)),
                               dtype=object)
            self._instances = pd.DataFrame({
                "document": doc_ids[c.document],
                "segment": c.segment.astype(np.int64),
                "gold": pd.Categorical.from_codes(c.label.astype(np.int64), names),
                "predicted": pd.Categorical.from_codes(c.prediction.astype(np.int64), names),
                "confidence": c.confidence.astype(np.float64),
                "correct": correct,
                "tokens": c.token_count.astype(np.int64),
            }, index=pd.RangeIndex(self.store.n_instances, name="instance"))
        return self._instances

    def __len__(self) -> int:
        return self.store.n_instances

    def instance(self, k: int) -> Instance:
        """Everything the store holds about instance ``k`` (text, tokens, spans, values)."""
        return self.store.read_instance(self._check(k))

    def attention(self, k: int) -> xr.DataArray:
        """Instance ``k``'s self-attention A[l, h, i, i] as an ``xarray.DataArray`` with dims
        (tokens, layers, heads): coordinates ``tokens`` (the token position), ``token`` (its
        string) and ``special`` along tokens, the model's layer numbers of the stored layers
        (a store written with ``--layers`` holds some only: ``.sel(layers=11)``) and the head
        numbers. Values are float32, decoded from 8-bit codes in a store of
        ``--precision 8``."""
        inst = self.instance(k)
        n, _, heads = inst.attention.shape
        return xr.DataArray(
            inst.attention, dims=(dims.TOKENS, dims.LAYERS, dims.HEADS),
            coords={dims.TOKENS: np.arange(n), "token": (dims.TOKENS, inst.tokens),
                    "special": (dims.TOKENS, inst.special),
                    dims.LAYERS: np.asarray(inst.layers), dims.HEADS: np.arange(heads)},
            name="self_attention", attrs={"instance": int(k), "text": inst.text},
        )

    @property
    def head_stat_names(self) -> list[str]:
        """The statistics per instance and head the store holds (``self_mean``, ...,
        ``importance`` when precomputed with ``--importance``)."""
        return self.store.head_stat_names

    def head_stats(self, name: str) -> xr.DataArray:
        """Statistic ``name`` per instance and head as an ``xarray.DataArray`` with dims
        (instances, layers, heads) and the instance, layer and head numbers as coordinates,
        e.g. ``corpus.head_stats("self_mean").sel(layers=3).mean("instances")``.

        The statistics are what ``attviz precompute`` (or ``attviz index STORE``) derives;
        :attr:`head_stat_names` lists those this store holds. Values stored as float16 come
        as float32 (exactly the same numbers), counts and positions as stored."""
        have = self.head_stat_names
        if name not in have:
            held = f"it holds {', '.join(have)}" if have else "it holds none"
            raise StoreError(f"{self.path}: no head statistic {name!r}; {held}; "
                             f"{_how_to_get(name)}")
        m = self.store.meta
        values = self.store.read_head_stat(name)
        if values.dtype == np.float16:  # as stored; float32 for arithmetic and display
            values = values.astype(np.float32)
        return xr.DataArray(
            values, dims=(dims.INSTANCES, dims.LAYERS, dims.HEADS),
            coords={dims.INSTANCES: np.arange(len(self)), dims.LAYERS: np.arange(m.num_layers),
                    dims.HEADS: np.arange(m.num_heads)},
            name=name, attrs={"store": str(self.path)})

    @property
    def layers(self) -> list[int]:
        """The model's layer numbers whose diagonals the store holds (all of them unless
        it was written with ``--layers``)."""
        return self.store.meta.layers
    def ablate(self, instances, heads, *, batch_size: int = 16, device: str = "cpu",
               model: str | None = None, model_root: str | None = None) -> np.ndarray:
        """[instances, classes] class probabilities of ``instances`` (an instance number or
        a sequence of them, in that order) with ``heads`` switched off: a list of (layer,
        head) pairs, each head's attention context multiplied by 0 before its layer's
        output projection. Runs the store's model (found as the explorer finds it: as
        named, beside the store, under ``model_root``; or ``model``), loaded once per
        reader; needs ``attviz[model]``."""
        from .relations.store_ablation import ablate_instances, store_model

        key = (model, model_root, device)
        if getattr(self, "_model_key", None) != key:
            self._model = store_model(self.store, model, model_root, device)
            self._model_key = key
        return ablate_instances(self.store, self._model, instances, heads, batch_size)

    def search(self, text: str, case_sensitive: bool = False, inside_words: bool = False
               ) -> np.ndarray:
        """The numbers of the instances whose text contains ``text`` (sorted), as the
        explorer's "text contains" filter finds them: with the store's token index where it
        has one, where the text holds the query's tokens; ``inside_words`` scans every text
        for the query anywhere, also inside longer tokens (:mod:`attviz.store.search`)."""
        return np.flatnonzero(search(self.store, text, case_sensitive, inside_words))

    def _check(self, k: int) -> int:
        k = int(k)
        if not 0 <= k < len(self):
            raise IndexError(f"instance {k} is not in 0..{len(self) - 1}")
        return k

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.store.meta
        stored = "" if m.all_layers else f" (stored: {', '.join(map(str, m.layers))})"
        return (f"<attviz store {self.path}: {len(self):,} instances, {m.num_layers} layers"
                f"{stored} x {m.num_heads} heads, labels {', '.join(self.label_names)}>")


def _how_to_get(name: str) -> str:
    """How a store gets head statistic ``name`` (one clause)."""
    if name in SELF_STAT_NAMES:
        return "`attviz index STORE` adds it"
    if name == "entropy":
        return "`attviz precompute --entropy` writes it"
    if name == "importance":
        return "`attviz precompute --importance` writes it (a backward pass of the model)"
    if name in HEAD_STAT_NAMES:
        return "`attviz precompute` writes it (a model run)"
    return (f"the statistics are {', '.join(HEAD_STAT_NAMES)}; `attviz index STORE` adds "
            f"{', '.join(SELF_STAT_NAMES)}")


def open(path: str | os.PathLike) -> StoreReader:  # noqa: A001 - attviz.open(path)
    """Open a store file, or a folder of shard stores, read-only."""
    return StoreReader(path)


def explorer(path: str | os.PathLike, root: str | os.PathLike | None = None):
    """The explorer of the store at ``path`` as a Panel object (shows inline in Jupyter;
    ``.show()`` opens it in a browser tab). ``root``: the folder whose stores the picker
    lists (default: the store's folder)."""
    from .explore.app import build_app
    from .explore.state import Explorer

    return build_app(explorer=Explorer(root=root, store=path))
