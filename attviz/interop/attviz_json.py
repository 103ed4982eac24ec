"""The JSON files of the original AttViz web tool: a slice of a store written as one (read
back by :mod:`.attviz_read`).

A file is a list of documents ``{"text", "name", "sets": [{"tokens", "name",
"attention_vectors": [{"name", "vectors"}]}], "output_activations": [{"name", "value"}]}``.
attviz writes one set per layer and one vector per head, ``text`` the tokens joined by
spaces (AttViz finds each token in the text in order), and the instance index and gold
label in ``name``. What AttViz has no field for goes in a field ``attviz`` of each document,
which AttViz ignores and `import-attviz` reads back (docs/format.md): the instance, the gold
label, the document id, the segment, and where the store holds a zero.

- **Zeros**: AttViz's default log-scale plot cannot place 0 (NaN positions, a blank plot):
  a value of 0 is written as the smallest positive float16 (2**-24, ``5.9605e-08``) and its
  place listed in ``attviz.zeros`` as ``[set, vector, token]``, so a round trip stays exact.
- **Size**: AttViz reads a file as one string; above V8's string limit (2**29 - 24
  characters, ~512 MB) it fails without a message. No file written is larger than
  ``max_bytes``: the documents go into numbered files (``NAME-1-of-3.json``...) instead.
- **Nothing**: AttViz cannot open an empty list: an empty selection is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..store import BaseStore

READ_BATCH = 256  # instances read from the store at a time
SMALLEST = float(np.float16(2.0**-24))  # written for a 0: AttViz's log scale cannot place 0
V8_STRING_LIMIT = 2**29 - 24  # characters: the longest string a browser's JavaScript holds
MAX_BYTES = 500_000_000  # the default limit of one file written (under V8's, with room)
EXTRA = "attviz"  # the field of a document that AttViz ignores and import reads back
SPECIAL_TOKENS = frozenset({"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>",
                            "<pad>", "<unk>", "<mask>", "<|endoftext|>", "<cls>", "<sep>"})


def _label(names: list[str], given: str | None, flag: str) -> int | None:
    """The class index of label ``given`` (a name, or an index), None when not given."""
    if given is None:
        return None
    if given in names:
        return names.index(given)
    if given.isdigit() and int(given) < len(names):
        return int(given)
    raise UserError(f"{flag} {given}: not a label of this store (its labels: "
                    f"{', '.join(names)})")


def select(store: BaseStore, misclassified_only: bool = False, gold: str | None = None,
           predicted: str | None = None, limit: int | None = None) -> np.ndarray:
    """Indices of the instances to export, in store order."""
    cols = store.columns
    keep = np.ones(store.n_instances, dtype=bool)
    if misclassified_only:
        keep &= (cols.label >= 0) & (cols.label != cols.prediction)
    g = _label(store.label_names, gold, "--gold")
    if g is not None:
        keep &= cols.label == g
    p = _label(store.label_names, predicted, "--predicted")
    if p is not None:
        keep &= cols.prediction == p
    idx = np.flatnonzero(keep)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit {limit}: give a number of instances, 1 or more")
        idx = idx[:limit]
    if not len(idx):
        raise UserError("no instance matches these filters: nothing to export (the AttViz "
                        "page cannot open an empty file)")
    return idx


def _number(v: float) -> str:
    """A stored value (float16, or a decoded 8-bit code) as the shortest JSON number that
    reads back to it (five significant digits), 0 as the smallest positive float16."""
    return f"{v if v else SMALLEST:.5g}"


def document(inst, names: list[str]) -> str:
    """One instance as an AttViz document (JSON text)."""
    tokens = list(inst.tokens)
    gold = names[inst.label] if inst.label >= 0 else "unknown"
    n_heads = inst.attention.shape[2]
    sets = []
    for j, layer in enumerate(inst.layers):  # the stored layers, by their model numbers
        vectors = ",".join(
            '{"name":' + json.dumps(f"head {h}") + ',"vectors":['
            + ",".join(_number(v) for v in inst.attention[:, j, h].tolist()) + "]}"
            for h in range(n_heads))
        sets.append('{"name":' + json.dumps(f"layer {layer}") + ',"tokens":'
                    + json.dumps(tokens, ensure_ascii=False)
                    + ',"attention_vectors":[' + vectors + "]}")
    acts = [{"name": n, "value": float(p)} for n, p in zip(names, inst.probabilities.tolist())]
    token, layer, head = np.nonzero(inst.attention == 0)
    extra = {"instance": int(inst.index), "gold": names[inst.label] if inst.label >= 0 else None,
             "document_id": inst.document_id, "segment": int(inst.segment),
             "zeros": np.stack([layer, head, token], axis=1).tolist()}
    return ('{"text":' + json.dumps(" ".join(tokens), ensure_ascii=False)
            + ',"name":' + json.dumps(f"instance {inst.index}, gold {gold}", ensure_ascii=False)
            + ',"sets":[' + ",".join(sets) + "]"
            + ',"output_activations":' + json.dumps(acts, ensure_ascii=False)
            + f',"{EXTRA}":' + json.dumps(extra, ensure_ascii=False) + "}")


def numbered(out: Path, k: int, n: int) -> Path:
    """File ``k`` (from 1) of ``n`` written instead of ``out`` when it would be too large."""
    return out.with_name(f"{out.stem}-{k}-of-{n}{out.suffix}")


class _Files:
    """JSON lists of documents written to temporary files, a new one whenever the next
    document would make the current one larger than ``max_bytes``."""

    def __init__(self, out: Path, max_bytes: int) -> None:
        self.out, self.max_bytes = out, max_bytes
        self.tmp: list[Path] = []
        self._f = None
        self._size = self._docs = 0

    def add(self, text: str, what: str) -> None:
        data = text.encode("utf-8")
        if len(data) + 3 > self.max_bytes:
            raise UserError(f"{what} alone takes {len(data):,} bytes of JSON, more than "
                            f"--max-bytes {self.max_bytes:,}")
        if self._f is None or self._size + len(data) + 3 > self.max_bytes:
            self._next()
        self._f.write(b",\n" if self._docs else b"")
        self._f.write(data)
        self._size += len(data) + (2 if self._docs else 0)
        self._docs += 1

    def _next(self) -> None:
        self.close()
        path = self.out.with_name(f".{self.out.name}.{os.getpid()}.{len(self.tmp)}.tmp")
        self.tmp.append(path)
        self._f = open(path, "wb")
        self._f.write(b"[")
        self._size, self._docs = 1, 0

    def close(self) -> None:
        if self._f is not None:
            self._f.write(b"]\n")
            self._f.close()
            self._f = None

    def finish(self) -> list[Path]:
        """Rename the files to ``out`` (one) or its numbered names (several); the names."""
        self.close()
        n = len(self.tmp)
        names = [self.out] if n == 1 else [numbered(self.out, k + 1, n) for k in range(n)]
        taken = [p for p in names if p.exists()]
        if taken:
            raise FileExistsError(f"{taken[0]} exists; remove it first or choose another --out")
        for tmp, name in zip(self.tmp, names):
            os.replace(tmp, name)
        self.tmp = []
        return names

    def discard(self) -> None:
        self.close()
        for p in self.tmp:
            p.unlink(missing_ok=True)


def export(store: BaseStore, out: str | os.PathLike, indices: np.ndarray,
           max_bytes: int = MAX_BYTES) -> list[Path]:
    """Write the instances at ``indices`` to ``out``, or to numbered files beside it when
    one file would be larger than ``max_bytes`` (each written under a temporary name and
    renamed when all are complete); the files written."""
    out = Path(out)
    if not len(indices):
        raise UserError("no instances to export (the AttViz page cannot open an empty file)")
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it first or choose another --out")
    files = _Files(out, max_bytes)
    try:
        for lo in range(0, len(indices), READ_BATCH):
            for inst in store.read_instances(indices[lo : lo + READ_BATCH]):
                files.add(document(inst, store.label_names), f"instance {inst.index}")
        return files.finish()
    finally:
        files.discard()


