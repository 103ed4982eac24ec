"""Mapping a corpus's gold labels onto the classifier's class indices."""

from __future__ import annotations

import re

import numpy as np

from .corpus import Corpus, CorpusError, _rows_text
from .errors import UserError

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
            f"{what} in {_rows_text([int(corpus.rows[i]) for i in pos])}" for what, pos in problems.items()
        )
        hint = ""
        if all(_GENERIC.match(x) for x in names):
            hint = (" The model has generic label names (LABEL_0, ...): give integer labels, or"
                    " use a model whose config has id2label (e.g. one made by `attviz finetune`).")
        raise CorpusError(
            f"{corpus.path}: {len(bad)} row(s) of column {corpus.label_column!r} have labels the "
            f"model does not know: {detail}. The model's labels are: {', '.join(names)}.{hint} "
            "Fix those rows, or pass --skip-bad-rows to leave them out."
        )
    keep = np.ones(len(corpus), dtype=bool)
    keep[bad] = False
    reason = {i: f"label not in the model's labels ({what})" for what, pos in problems.items() for i in pos}
    kept = corpus.select(keep)
    kept.skipped = sorted(corpus.skipped + [(int(corpus.rows[i]), reason[i]) for i in bad])
    return kept, labels[keep]
