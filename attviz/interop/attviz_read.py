"""A JSON file of the original AttViz web tool read into a store (the files attviz writes:
:mod:`.attviz_json`, and AttViz's own).

Read what AttViz reads: a list of documents, or an object of them by number (``{"0": doc,
"1": doc}``, as AttViz's generated examples are), UTF-8 with or without a byte-order mark,
values as numbers or numeric strings. Each document becomes one instance: its tokens, one
layer per set, one head per vector, its output activations as the class probabilities and
the prediction their argmax. The field ``attviz`` that attviz writes gives back the gold
label, the document id and segment and the values that were 0.

Vectors AttViz adds to a set when its user adds an aggregate (named ``SET_TYPE``, e.g.
``3_mean``, appended after the heads) are not heads: they are left out, and the caller is
told which. Anything malformed is one :class:`UserError` naming the document, set and vector,
raised before the store is written.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..store import Part, StoreMeta, StoreWriter, StringArray
from ..version import __version__
from .attviz_json import EXTRA, SPECIAL_TOKENS

PART_INSTANCES = 2000  # instances per part written to the store (whole documents)
AGGREGATE_RE = re.compile(r"^\d+_[A-Za-z][\w-]*$")  # how AttViz names an aggregate it adds


@dataclass
class Doc:
    """One document, checked: [tokens] strings, attention [tokens, sets, vectors] float16,
    probabilities [classes]."""

    tokens: list[str]
    text: str
    attention: np.ndarray
    probabilities: np.ndarray
    label: int
    document_id: str
    segment: int
    grouped: bool  # from attviz's field: consecutive ones with one document id, one document


def kind(v) -> str:
    """What a JSON value is, in words."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true or false"
    return {dict: "an object", list: "a list", str: "a string"}.get(
        type(v), "a number" if isinstance(v, (int, float)) else type(v).__name__)


def load_documents(path: Path) -> list:
    """The documents of the file ``path``; raise :class:`UserError` saying what it is not."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not an AttViz JSON file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as AttViz accepts it
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                        f"{e.start:,}); AttViz files are UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not JSON ({e})") from None
    if isinstance(data, dict) and "sets" in data:
        data = [data]
    elif isinstance(data, dict) and data and all(k.isdigit() for k in data):
        data = [data[k] for k in sorted(data, key=int)]
    if not isinstance(data, list):
        raise UserError(f"{path}: a list of AttViz documents (or an object of them by number) "
                        f"was expected, not {kind(data)}")
    if not data:
        raise UserError(f"{path}: holds no documents")
    return data


def _floats(values, where: str, n: int) -> np.ndarray:
    """``values`` (numbers or numeric strings) as float64, ``n`` of them."""
    if not isinstance(values, list):
        raise UserError(f"{where}: \"vectors\" must be a list of numbers, not {kind(values)}")
    out = np.empty(len(values), dtype=np.float64)
    for k, v in enumerate(values):
        try:
            if isinstance(v, (bool, list, dict)) or v is None:
                raise TypeError
            out[k] = float(v)
        except (TypeError, ValueError):
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
            raise UserError(f"{where}: value {k} ({shown}) is not a number") from None
    if len(out) != n:
        raise UserError(f"{where}: {len(out)} values for {n} tokens")
    return out


@dataclass
class Reader:
    """The documents of one file, read one by one against the first."""

    path: Path
    docs: list
    heads: int = 0
    shape: tuple | None = None
    names: list[str] | None = None
    set_names: list[str] = field(default_factory=list)
    vector_names: list[list[str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # aggregates left out

    def __post_init__(self) -> None:
        counts = [sum(1 for v in st["attention_vectors"] if not self._aggregate(v))
                  for d in self.docs if isinstance(d, dict) and isinstance(d.get("sets"), list)
                  for st in d["sets"]
                  if isinstance(st, dict) and isinstance(st.get("attention_vectors"), list)]
        self.heads = min([c for c in counts if c] or [0])

    @staticmethod
    def _aggregate(vec) -> bool:
        return isinstance(vec, dict) and bool(AGGREGATE_RE.match(str(vec.get("name", ""))))

    def read(self, i: int) -> Doc:
        where = f"{self.path}: document {i}"
        d = self.docs[i]
        if not isinstance(d, dict):
            raise UserError(f"{where}: a document must be an object, not {kind(d)}")
        sets = d.get("sets")
        if not isinstance(sets, list) or not sets:
            raise UserError(f"{where}: \"sets\" must be a non-empty list of sets, not "
                            f"{kind(sets) if not isinstance(sets, list) else 'an empty list'}")
        tokens, layers, set_names, vector_names = None, [], [], []
        for s, st in enumerate(sets):
            tokens, heads, names = self._set(st, f"{where}, set {s}", tokens, i, s)
            layers.append(np.stack(heads, axis=1))
            set_names.append(str(st.get("name", f"set {s}")))
            vector_names.append(names)
        att = np.stack(layers, axis=1).astype(np.float16)  # [tokens, sets, vectors]
        if self.shape is None:
            self.shape, self.set_names, self.vector_names = att.shape[1:], set_names, vector_names
        elif att.shape[1:] != self.shape:
            raise UserError(f"{where}: {att.shape[1]} sets of {att.shape[2]} vectors, but the "
                            f"first document has {self.shape[0]} of {self.shape[1]}")
        probs = self._activations(d.get("output_activations"), where)
        text = d.get("text") if isinstance(d.get("text"), str) else " ".join(tokens)
        name = str(d["name"]) if d.get("name") not in (None, "") else str(i)
        doc = Doc(tokens, text, att, probs, -1, name, 0, False)
        if EXTRA in d:
            self._extra(d[EXTRA], doc, f"{where}, field \"{EXTRA}\"")
        return doc

    def _set(self, st, here: str, tokens, i: int, s: int):
        """(tokens, head vectors, their names) of one set, checked."""
        if not isinstance(st, dict):
            raise UserError(f"{here}: a set must be an object with \"tokens\" and "
                            f"\"attention_vectors\", not {kind(st)}")
        toks = st.get("tokens")
        if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
            raise UserError(f"{here}: \"tokens\" must be a list of strings")
        if tokens is not None and toks != tokens:
            raise UserError(f"{here}: its tokens differ from those of set 0")
        vecs = st.get("attention_vectors")
        if not isinstance(vecs, list) or not vecs:
            raise UserError(f"{here}: \"attention_vectors\" must be a non-empty list of "
                            f"vectors, not {kind(vecs) if vecs != [] else 'an empty list'}")
        heads, names = [], []
        for v, vec in enumerate(vecs):
            there = f"{here}, vector {v}"
            if not isinstance(vec, dict):
                raise UserError(f"{there}: a vector must be an object with \"name\" and "
                                f"\"vectors\", not {kind(vec)}")
            name = str(vec.get("name", v))
            if self._aggregate(vec) or len(heads) == self.heads:
                self.dropped.append(f"document {i} set {s} {name!r}")
                continue
            heads.append(_floats(vec.get("vectors"), there, len(toks)))
            names.append(name)
        if not heads:
            raise UserError(f"{here}: no head vectors (only aggregates AttViz added)")
        return toks, heads, names

    def _activations(self, acts, where: str) -> np.ndarray:
        if not isinstance(acts, list) or not acts:
            raise UserError(f"{where}: \"output_activations\" (the class probabilities) must "
                            "be a non-empty list of {\"name\", \"value\"} objects, not "
                            f"{kind(acts) if acts != [] else 'an empty list'}")
        for k, a in enumerate(acts):
            if not isinstance(a, dict):
                raise UserError(f"{where}, output activation {k}: an object with \"name\" and "
                                f"\"value\" was expected, not {kind(a)}")
        labels = [str(a.get("name", k)) for k, a in enumerate(acts)]
        if self.names is None:
            self.names = labels
        elif labels != self.names:
            raise UserError(f"{where}: output_activations name the classes {labels}, the "
                            f"first document {self.names}")
        values = [a.get("value") for a in acts]
        return _floats(values, f"{where}, output_activations", len(values)).astype(np.float32)

    def _extra(self, extra, doc: Doc, where: str) -> None:
        """What attviz wrote beside AttViz's fields: gold label, document, segment, zeros."""
        if not isinstance(extra, dict):
            raise UserError(f"{where}: an object was expected, not {kind(extra)}")
        gold, doc_id, segment = extra.get("gold"), extra.get("document_id"), extra.get("segment")
        if gold is not None and gold not in self.names:
            raise UserError(f"{where}: gold label {gold!r} is not one of the classes "
                            f"{self.names}")
        if not isinstance(doc_id, str) or not isinstance(segment, int) or segment < 0:
            raise UserError(f"{where}: \"document_id\" (a string) and \"segment\" (0 or more) "
                            "are needed")
        zeros = extra.get("zeros", [])
        shape = doc.attention.shape
        if not isinstance(zeros, list) or not all(
                isinstance(z, list) and len(z) == 3 and all(isinstance(x, int) for x in z)
                and 0 <= z[0] < shape[1] and 0 <= z[1] < shape[2] and 0 <= z[2] < shape[0]
                for z in zeros):
            raise UserError(f"{where}: \"zeros\" must list [set, vector, token] places of this "
                            "document")
        for layer, head, token in zeros:
            doc.attention[token, layer, head] = 0
        doc.label = -1 if gold is None else self.names.index(gold)
        doc.document_id, doc.segment, doc.grouped = doc_id, segment, True


def _part(docs: list[Doc], vocab: dict[str, int], first_document: int) -> Part:
    """Instances ``docs`` (whole documents) as a part whose first document is number
    ``first_document`` of the store."""
    starts = [k for k, d in enumerate(docs)
              if k == 0 or not (d.grouped and docs[k - 1].grouped
                                and d.document_id == docs[k - 1].document_id)]
    document = np.searchsorted(starts, np.arange(len(docs)), side="right") - 1
    tokens = [t for d in docs for t in d.tokens]
    probs = np.stack([d.probabilities for d in docs])
    return Part(
        token_count=np.array([len(d.tokens) for d in docs]),
        label=np.array([d.label for d in docs]), prediction=probs.argmax(axis=1),
        probabilities=probs, document=document, segment=np.array([d.segment for d in docs]),
        text=StringArray.from_list([d.text for d in docs]),
        attention=np.concatenate([d.attention for d in docs]).astype(np.float16),
        token_id=np.array([vocab[t] for t in tokens], dtype=np.int32),
        span=np.concatenate([_spans(d.text, d.tokens) for d in docs]),
        special=np.array([t in SPECIAL_TOKENS for t in tokens], dtype=bool),
        document_ids=StringArray.from_list([docs[k].document_id for k in starts]),
        document_row=first_document + np.arange(len(starts)))


def _spans(text: str, tokens: list[str]) -> np.ndarray:
    """[tokens, span] each token found in ``text`` after the previous one (AttViz's rule);
    -1, -1 for a token that is not there."""
    spans = np.full((len(tokens), 2), -1, dtype=np.int32)
    at = 0
    for i, tok in enumerate(tokens):
        k = text.find(tok, at) if tok else -1
        if k >= 0:
            spans[i] = (k, k + len(tok))
            at = k + len(tok)
    return spans


def import_file(path: str | os.PathLike, out: str | os.PathLike) -> tuple[int, list[str]]:
    """Read the AttViz file ``path`` into a new store ``out``; (the number of documents, the
    aggregate vectors left out). Nothing is written when the file is malformed."""
    path, out = Path(path), Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it first or choose another --out")
    reader = Reader(path, load_documents(path))
    docs = [reader.read(i) for i in range(len(reader.docs))]
    reader.docs = []  # the parsed JSON: no longer needed
    vocab: dict[str, int] = {}
    for d in docs:
        for t in d.tokens:
            vocab.setdefault(t, len(vocab))
    meta = StoreMeta(reader.names, int(reader.shape[0]), int(reader.shape[1]), {
        "model": "", "attviz_version": __version__, "imported_from": str(path),
        "attviz_json_set_names": json.dumps(reader.set_names),
        "attviz_json_vector_names": json.dumps(reader.vector_names),
    })
    with StoreWriter(out, meta, vocab=list(vocab)) as w:
        lo, first_document = 0, 0
        while lo < len(docs):
            hi = min(lo + PART_INSTANCES, len(docs))
            while hi < len(docs) and docs[hi].grouped and docs[hi - 1].grouped \
                    and docs[hi].document_id == docs[hi - 1].document_id:
                hi += 1  # a document's segments stay in one part
            part = _part(docs[lo:hi], vocab, first_document)
            w.append(part)
            first_document += len(part.document_row)
            lo = hi
    return len(docs), reader.dropped
