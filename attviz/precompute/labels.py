"""Mapping a corpus's gold labels onto the classifier's class indices."""

from __future__ import annotations

import re

import numpy as np

from ..errors import UserError
from .corpus import Corpus, CorpusError, _rows_text

_GENERIC = re.compile(r"^LABEL_\d+$")


def label_names(id2label: dict) -> list[str]:
    """The model's class names, index = class id."""
    keys = sorted(int(k) for k in id2label)
    if keys != list(range(len(keys))):
        raise UserError(f"the model's id2label keys are {keys}, not 0..{len(keys) - 1}")
    lookup = {int(k): v for k, v in id2label.items()}
    return [str(lookup[k]) for k in keys]


def map_labels(raw: list | None, names: list[str], n: int | None = None
               ) -> tuple[np.ndarray, dict[str, list[int]]]:
    """Class indices ([documents] int16, -1 where unknown) and the labels that do not fit.

    String labels go through the model's label names; integer labels are used as indices
    after a range check. The second value maps a description of each unfitting label to the
    positions (into ``raw``) that carry it. ``n``: the number of documents when ``raw`` is None.
    """
    out = np.full(len(raw) if raw is not None else (n or 0), -1, dtype=np.int16)
    if raw is None:
        return out, {}
    lookup = {name: i for i, name in enumerate(names)}
    problems: dict[str, list[int]] = {}
    for i, v in enumerate(raw):
        if v is None:
            continue
        if isinstance(v, int):
            if 0 <= v < len(names):
                out[i] = v
            elif str(v) in lookup:  # names that are numbers ("1", "5" stars)
                out[i] = lookup[str(v)]
            else:
                problems.setdefault(f"class index {v} outside 0..{len(names) - 1}", []).append(i)
        elif v in lookup:
            out[i] = lookup[v]
        else:
            problems.setdefault(f"label {v!r}", []).append(i)
    return out, problems


UNKNOWN_LABEL = "label not in the model's labels"  # the reason a row is left out for


def model_labels_note(names: list[str]) -> str:
    """Sentences for a message about unknown labels: the model's labels, and a hint."""
    note = f" The model's labels are: {', '.join(names)}."
    if all(_GENERIC.match(x) for x in names):
        note += (" The model has generic label names (LABEL_0, ...): give integer labels, or"
                 " use a model whose config has id2label (e.g. one made by `attviz finetune`).")
    return note


def corpus_labels(
    corpus: Corpus, names: list[str], *, skip_bad_rows: bool = False
) -> tuple[Corpus, np.ndarray]:
    """The corpus (without rows whose label does not fit, if asked) and its class indices.

    Raises :class:`CorpusError` naming the rows whose labels the model does not know.
    """
    labels, problems = map_labels(corpus.labels, names, len(corpus))
    if not problems:
        return corpus, labels
    bad = sorted({i for pos in problems.values() for i in pos})
    if not skip_bad_rows:
        detail = "; ".join(
            f"{what} in {_rows_text([int(corpus.rows[i]) for i in pos])}"
            for what, pos in problems.items()
        )
        raise CorpusError(
            f"{corpus.path}: {len(bad)} row(s) of column {corpus.label_column!r} have labels the "
            f"model does not know: {detail}.{model_labels_note(names)} "
            "Fix those rows, or pass --skip-bad-rows to leave them out."
        )
    keep = np.ones(len(corpus), dtype=bool)
    keep[bad] = False
    reason = {i: f"{UNKNOWN_LABEL} ({what})" for what, pos in problems.items() for i in pos}
    kept = corpus.select(keep)
    kept.skipped = sorted(corpus.skipped + [(int(corpus.rows[i]), reason[i]) for i in bad])
    return kept, labels[keep]


def training_classes(corpus: Corpus, given_names: str | None = None
                     ) -> tuple[list[str], np.ndarray]:
    """Class names (index order) and [documents] class indices for fine-tuning on ``corpus``.

    Without ``given_names`` the classes are the distinct labels, sorted as text. With it
    (comma-separated names in class-index order, e.g. ``negative,positive``) the labels
    must be the class indices 0..n-1 of those n names. Every document needs a label.
    """
    raw = corpus.labels or []
    if given_names is None:
        names = sorted({str(v) for v in raw})
        lookup = {n: i for i, n in enumerate(names)}
        return names, np.array([lookup[str(v)] for v in raw], dtype=np.int64)
    names = [n.strip() for n in given_names.split(",")]
    if not all(names):
        raise UserError(f"--label-names {given_names!r} has an empty name; give the class names "
                        "separated by commas, in class-index order (e.g. negative,positive)")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"--label-names names {', '.join(map(repr, twice))} more than once")
    column = corpus.label_column
    text = next((v for v in raw if not isinstance(v, int)), None)
    if text is not None:
        raise CorpusError(f"{corpus.path}: --label-names is for class indices 0..n-1, but column "
                          f"{column!r} holds names (e.g. {text!r}); leave --label-names out to "
                          "use them")
    found = sorted(set(raw))
    if len(found) != len(names):
        raise CorpusError(f"{corpus.path}: --label-names gives {len(names)} names "
                          f"({given_names}) but column {column!r} has {len(found)} classes "
                          f"({', '.join(map(str, found[:20]))})")
    outside = [v for v in found if not 0 <= v < len(names)]
    if outside:
        raise CorpusError(f"{corpus.path}: column {column!r} has class index(es) "
                          f"{', '.join(map(str, outside[:10]))} outside 0..{len(names) - 1} "
                          f"(one index per name of --label-names {given_names})")
    return names, np.array(raw, dtype=np.int64)
