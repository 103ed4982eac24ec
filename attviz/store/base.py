"""What every opened store offers, single file or folder of shards."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .. import dims
from .format import StoreMeta
from .part import Part, correct

OCCURRENCE_BLOCK = 1 << 20  # token rows of one token id read at a time


@dataclass
class Instance:
    """One instance read from a store (shapes in :mod:`attviz.dims` names)."""

    index: int
    document_id: str
    segment: int
    text: str
    token_ids: np.ndarray  # [tokens] int32
    tokens: list[str]  # [tokens] the vocabulary's string for each token id
    spans: np.ndarray  # [tokens, span] int32 character offsets into ``text``; -1 where none
    special: np.ndarray  # [tokens] bool
    attention: np.ndarray  # [tokens, stored_layers, heads] float32
    label: int  # -1 where unknown
    prediction: int
    probabilities: np.ndarray  # [classes] float32
    layers: tuple[int, ...] = ()  # [stored_layers] model layer numbers of attention's axis 1

    def __post_init__(self) -> None:
        if not self.layers:
            self.layers = tuple(range(self.attention.shape[1]))

    def layer_index(self, layer: int) -> int:
        """Where model layer ``layer`` is along axis 1 of ``attention``; KeyError if the
        store does not hold it."""
        try:
            return self.layers.index(int(layer))
        except ValueError:
            raise KeyError(f"layer {layer} is not stored (stored: "
                           f"{', '.join(map(str, self.layers))})") from None

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@dataclass
class Columns:
    """The per-instance columns a store keeps in memory after opening.

    token_start: [instances + 1] int64 CSR offsets into the per-token datasets
    label, prediction: [instances] int16
    probabilities: [instances, classes] float32
    document: [instances] int64 index into the documents table
    segment: [instances] int32
    """

    token_start: np.ndarray
    label: np.ndarray
    prediction: np.ndarray
    probabilities: np.ndarray
    document: np.ndarray
    segment: np.ndarray

    @property
    def token_count(self) -> np.ndarray:
        return np.diff(self.token_start)

    @property
    def confidence(self) -> np.ndarray:
        """[instances] float32, the largest class probability."""
        return (self.probabilities.max(axis=1) if len(self.probabilities)
                else np.zeros(0, np.float32))

    @property
    def correct(self) -> np.ndarray:
        """[instances] bool; False where the gold label is unknown."""
        return correct(self.label, self.prediction)


class BaseStore(ABC):
    """A read-only store: per-instance columns in memory, per-token data read on demand."""

    path: object
    meta: StoreMeta
    columns: Columns

    @property
    def n_instances(self) -> int:
        return len(self.columns.label)

    @property
    def n_tokens(self) -> int:
        return int(self.columns.token_start[-1])

    @property
    @abstractmethod
    def n_documents(self) -> int: ...

    @property
    def label_names(self) -> list[str]:
        return list(self.meta.label_names)

    def sizes(self) -> dict[str, int]:
        """Rows of each dimension along which the store's datasets grow."""
        return {dims.INSTANCES: self.n_instances, dims.TOKENS: self.n_tokens,
                dims.DOCUMENTS: self.n_documents}

    @abstractmethod
    def read_instances(self, indices) -> list[Instance]:
        """Instances at ``indices`` (sorted, unique), read in as few slices as possible."""

    @abstractmethod
    def read_tokens(self, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Only the token ids and self-attention of the instances at sorted ``indices``:
        (token_count [instances], token_id [tokens], attention [tokens, stored_layers, heads]
        float32), instances one after another (for corpus samples)."""

    def read_instance(self, index: int) -> Instance:
        return self.read_instances([int(index)])[0]

    @abstractmethod
    def texts(self, indices) -> list[str]:
        """The texts of the instances at sorted ``indices``."""

    @abstractmethod
    def document_ids(self, documents) -> list[str]:
        """The ids of documents at sorted ``documents`` (indices into the documents table)."""

    @abstractmethod
    def search_text(self, query: str, case_sensitive: bool = False) -> np.ndarray:
        """[instances] bool: whose text contains ``query``, ignoring case unless asked.

        ASCII queries are searched byte-wise over all texts (fast); other queries are
        compared after Unicode case folding, text by text.
        """

    @abstractmethod
    def iter_parts(self, max_instances: int = 4096) -> Iterator[Part]:
        """All instances as consecutive parts of whole documents (for copying and merging)."""

    @property
    @abstractmethod
    def vocab(self) -> list[str]: ...

    @property
    @abstractmethod
    def precision(self) -> int:
        """Bits per stored self-attention value: 16 (float16) or 8 (log8 codes)."""

    # -- what a complete store derives (format 1.1; absent from older stores) ------------------
    @property
    @abstractmethod
    def head_stat_names(self) -> list[str]:
        """The statistics per instance and head this store holds (self_mean, ...)."""

    @abstractmethod
    def read_head_stat(self, name: str, layer: int | None = None, head: int | None = None
                       ) -> np.ndarray:
        """[instances, layers, heads] of statistic ``name``, [instances, heads] of one layer,
        or [instances] of one head."""

    @abstractmethod
    def profiles(self):
        """The corpus profiles (:class:`~attviz.store.summaries.ProfileTables`), or None."""

    @abstractmethod
    def postings(self, token_id: int) -> np.ndarray | None:
        """The sorted instances that hold ``token_id``; None when the store has no index."""

    @property
    @abstractmethod
    def has_occurrences(self) -> bool:
        """Whether the token index holds where each token occurs (1.2, optional)."""

    @abstractmethod
    def occurrence_count(self, token_id: int) -> int:
        """How many token rows hold ``token_id`` (0 without :attr:`has_occurrences`)."""

    @abstractmethod
    def occurrences(self, token_id: int, block: int = OCCURRENCE_BLOCK) -> Iterator[np.ndarray]:
        """The token rows (indices into every per-token dataset) that hold ``token_id``,
        ascending, in int64 blocks of at most ``block``; none without the index."""

    def read_token_ids(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """(token_count [instances], token_id [tokens]) of the instances at sorted
        ``indices``, one after another."""
        counts, ids, _ = self.read_tokens(indices)
        return counts, ids

    @abstractmethod
    def tokenizer_json(self) -> bytes | None:
        """The tokenizer's tokenizer.json, or None when the store does not hold it."""

    def close(self) -> None:  # noqa: B027 - optional for subclasses
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def contiguous_runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """[(start, stop)] runs of consecutive values in sorted unique ``indices``."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(indices)]])
    return [(int(indices[a]), int(indices[b - 1]) + 1) for a, b in zip(starts, stops)]


def check_sorted_indices(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"index out of range 0..{n - 1}")
    if len(idx) > 1 and np.any(np.diff(idx) <= 0):
        raise ValueError("indices must be sorted and unique")
    return idx
