"""The JSON files of the original AttViz web tool: a slice of a store written as one, and
one read into a store.

A file is a list of documents ``{"text", "name", "sets": [{"tokens", "name",
"attention_vectors": [{"name", "vectors"}]}], "output_activations": [{"name", "value"}]}``.
attviz writes one set per layer and one vector per head, ``text`` the tokens joined by
spaces (AttViz finds each token in the text in order), and the instance index and gold
label in ``name`` (the format has no field for them). AttViz reads ``vectors`` and
``value`` as numbers or numeric strings, so reading accepts both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..store import BaseStore, Part, StoreMeta, StoreWriter, StringArray
from ..version import __version__

READ_BATCH = 256  # instances read from the store at a time
PART_DOCUMENTS = 2000  # documents per part written to the store
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
        if limit < 0:
            raise UserError(f"--limit {limit}: give a number of instances, 0 or more")
        idx = idx[:limit]
    return idx


def _number(v: float) -> str:
    """A stored value (float16, or a decoded 8-bit code) in five significant digits: reads
    back to the float16 value (and to the same 8-bit code)."""
    return f"{v:.5g}"


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
    return ('{"text":' + json.dumps(" ".join(tokens), ensure_ascii=False)
            + ',"name":' + json.dumps(f"instance {inst.index}, gold {gold}", ensure_ascii=False)
            + ',"sets":[' + ",".join(sets) + "]"
            + ',"output_activations":' + json.dumps(acts, ensure_ascii=False) + "}")


def export(store: BaseStore, out: str | os.PathLike, indices: np.ndarray) -> int:
    """Write the instances at ``indices`` to ``out`` (a temporary name, renamed when
    complete); the number written."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it first or choose another --out")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("[")
            first = True
            for lo in range(0, len(indices), READ_BATCH):
                for inst in store.read_instances(indices[lo : lo + READ_BATCH]):
                    f.write(("" if first else ",\n") + document(inst, store.label_names))
                    first = False
            f.write("]\n")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return len(indices)


# -- reading --------------------------------------------------------------------------------
def _floats(values, where: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(v for v in values if not _is_number(v))
        raise UserError(f"{where}: {bad!r} is not a number") from None


def _is_number(v) -> bool:
    try:
        float(v)
        return not isinstance(v, bool)
    except (TypeError, ValueError):
        return False


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


def _doc(d, i: int, path: str, shape: tuple | None, names: list[str] | None):
    """(tokens, text, name, attention [tokens, sets, vectors], probabilities, set names,
    vector names) of document ``i``, checked."""
    where = f"{path}: document {i}"
    if not isinstance(d, dict) or not isinstance(d.get("sets"), list) or not d["sets"]:
        raise UserError(f"{where}: not an AttViz document (it needs a non-empty \"sets\" list)")
    tokens = d["sets"][0].get("tokens") if isinstance(d["sets"][0], dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise UserError(f"{where}: set 0 has no \"tokens\" list of strings")
    layers, set_names, vector_names = [], [], []
    for s, st in enumerate(d["sets"]):
        vecs = st.get("attention_vectors") if isinstance(st, dict) else None
        if st.get("tokens") != tokens or not isinstance(vecs, list) or not vecs:
            raise UserError(f"{where}: set {s} needs the same tokens as set 0 and a non-empty "
                            "\"attention_vectors\" list")
        heads = []
        for v, vec in enumerate(vecs):
            values = _floats(vec.get("vectors", []), f"{where}, set {s}, vector {v}")
            if len(values) != len(tokens):
                raise UserError(f"{where}, set {s}, vector {v}: {len(values)} values for "
                                f"{len(tokens)} tokens")
            heads.append(values)
        layers.append(np.stack(heads, axis=1))
        set_names.append(str(st.get("name", f"set {s}")))
        vector_names.append([str(vec.get("name", j)) for j, vec in enumerate(vecs)])
    att = np.stack(layers, axis=1).astype(np.float16)  # [tokens, sets, vectors]
    if shape is not None and att.shape[1:] != shape:
        raise UserError(f"{where}: {att.shape[1]} sets of {att.shape[2]} vectors, but the first "
                        f"document has {shape[0]} of {shape[1]}")
    acts = d.get("output_activations")
    if not isinstance(acts, list) or not acts:
        raise UserError(f"{where}: no \"output_activations\" (the class probabilities)")
    labels = [str(a.get("name", k)) for k, a in enumerate(acts)]
    if names is not None and labels != names:
        raise UserError(f"{where}: output_activations name the classes {labels}, the first "
                        f"document {names}")
    probs = _floats([a.get("value") for a in acts], f"{where}, output_activations")
    text = d.get("text") if isinstance(d.get("text"), str) else " ".join(tokens)
    name = str(d["name"]) if d.get("name") not in (None, "") else str(i)
    return tokens, text, name, att, probs, labels, set_names, vector_names


def import_file(path: str | os.PathLike, out: str | os.PathLike) -> int:
    """Read the AttViz file ``path`` into a new store ``out``; the number of documents."""
    path, out = Path(path), Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it first or choose another --out")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not JSON ({e})") from None
    docs = data if isinstance(data, list) else [data]
    if not docs:
        raise UserError(f"{path}: holds no documents")
    first = _doc(docs[0], 0, str(path), None, None)
    shape, names = first[3].shape[1:], first[5]
    vocab: dict[str, int] = {}
    meta = StoreMeta(names, int(shape[0]), int(shape[1]), {
        "model": "", "attviz_version": __version__, "imported_from": str(path),
        "attviz_json_set_names": json.dumps(first[6]),
        "attviz_json_vector_names": json.dumps(first[7]),
    })
    parsed = []

    def flush(w: StoreWriter, base: int) -> None:
        tokens = [t for p in parsed for t in p[0]]
        ids = np.array([vocab[t] for t in tokens], dtype=np.int32)
        probs = np.stack([p[4] for p in parsed]).astype(np.float32)
        n = len(parsed)
        w.append(Part(
            token_count=np.array([len(p[0]) for p in parsed]), label=np.full(n, -1),
            prediction=probs.argmax(axis=1), probabilities=probs, document=np.arange(n),
            segment=np.zeros(n), text=StringArray.from_list([p[1] for p in parsed]),
            attention=np.concatenate([p[3] for p in parsed]).astype(np.float16),
            token_id=ids, span=np.concatenate([_spans(p[1], p[0]) for p in parsed]),
            special=np.array([t in SPECIAL_TOKENS for t in tokens], dtype=bool),
            document_ids=StringArray.from_list([p[2] for p in parsed]),
            document_row=base + np.arange(n)))
        parsed.clear()

    # the vocabulary first (token strings in order of first use): the store holds it ahead
    # of the rows
    for d in docs:
        sets = d.get("sets") if isinstance(d, dict) else None
        first_set = sets[0] if isinstance(sets, list) and sets else None
        for t in (first_set.get("tokens") or []) if isinstance(first_set, dict) else []:
            if isinstance(t, str):
                vocab.setdefault(t, len(vocab))
    with StoreWriter(out, meta, vocab=list(vocab)) as w:
        for i, d in enumerate(docs):
            parsed.append(first if i == 0 else _doc(d, i, str(path), shape, names))
            if len(parsed) == PART_DOCUMENTS:
                flush(w, i + 1 - PART_DOCUMENTS)
        if parsed:
            flush(w, len(docs) - len(parsed))
    return len(docs)
