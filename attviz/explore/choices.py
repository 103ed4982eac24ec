"""The choices of the explorer's selectors: the values a setting takes, each under a display
label. The explorer keeps values (class indices, a (gold, predicted) pair, a head number);
labels are only shown, so a label name with ``→``, digits or spaces in it changes nothing.
Labels are unique within a selector."""

from __future__ import annotations

from .style import head_name

ANY_CELL = "any"  # the label of "no confusion cell"
AGGREGATE = "aggregate"  # the label of "the aggregate colours the text"
SCOPE_HEADS = "heads"  # aggregate over the shown heads of the layer
SCOPE_ALL = "all"  # aggregate over all layers x heads
SCOPES = {"shown heads of the layer": SCOPE_HEADS, "all layers x heads": SCOPE_ALL}
ARROW = "→"


def unique_labels(labels: list[str]) -> list[str]:
    """``labels`` with repeats told apart by a number (``x``, ``x (2)``, ``x (3)``...)."""
    given, seen, out = set(labels), set(), []
    for label in labels:
        if label in seen:
            n = 2
            while f"{label} ({n})" in seen or f"{label} ({n})" in given:
                n += 1
            label = f"{label} ({n})"
        seen.add(label)
        out.append(label)
    return out


def class_choices(names: list[str]) -> dict[str, int]:
    """Label -> class index, one per class (label names, made unique)."""
    return dict(zip(unique_labels(list(names)), range(len(names))))


def _quoted(label: str) -> str:
    """A class label as a part of a cell label: quoted when it could be misread there."""
    if ARROW in label or label != label.strip() or not label:
        return f"“{label}”"
    return label


def cell_choices(names: list[str]) -> dict[str, tuple[int, int] | None]:
    """Label -> confusion cell (gold, predicted), after ``any`` -> None."""
    labels = list(class_choices(names))
    cells = [(g, p) for g in range(len(names)) for p in range(len(names))]
    shown = unique_labels([ANY_CELL] + [f"{_quoted(labels[g])} {ARROW} {_quoted(labels[p])}"
                                        for g, p in cells])
    return dict(zip(shown, [None, *cells]))


def highlight_choices(n_heads: int) -> dict[str, int | None]:
    """Label -> what colours the text: None for the aggregate, else a head of the layer."""
    return {AGGREGATE: None, **{head_name(h): h for h in range(n_heads)}}
