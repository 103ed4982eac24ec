"""What the views of one instance draw, as pure functions of (instance, settings): the
values of the shown heads, the aggregate, what colours the text, the layer x head means
and the instance's CSV; per token, or per word (:mod:`attviz.analysis.words`)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.aggregate import AGGREGATIONS, aggregate
from ..analysis.words import (
    Grouping,
    tokens_alone,
    unit_mean,
    unit_spans,
    unit_strings,
    word_grouping,
)
from ..store import Instance
from .choices import SCOPE_ALL
from .style import head_name


@dataclass(frozen=True)
class ViewSettings:
    """The settings the views of an instance depend on.

    layer: the layer shown; heads: its shown heads (empty: all); aggregation: a name of
    :data:`attviz.analysis.aggregate.AGGREGATIONS`; scope: what the aggregate is taken over (a value
    of :data:`attviz.explore.choices.SCOPES`); hide_special: leave out special tokens;
    highlight: the head whose values colour the text, None for the aggregate; words: words
    instead of tokens (a word's value is the mean over its pieces).
    """

    layer: int
    heads: tuple[int, ...]
    aggregation: str
    scope: str
    hide_special: bool
    highlight: int | None
    words: bool = False


@dataclass(frozen=True)
class ViewKey:
    """What a :class:`ViewData` is computed from: a store, an instance of it, settings."""

    store: Path
    instance: int
    settings: ViewSettings


@dataclass(eq=False)
class ViewData:
    """What the views of the selected instance draw (shapes in attviz.dims names).

    positions: [shown tokens] token positions in the instance (special tokens dropped when
    hidden; with words, the position of each shown word's first piece); tokens: their
    strings (with words, the words' text); heads: the shown heads of ``layer``;
    values: [shown tokens, shown heads] self-attention of those heads in ``layer``;
    scope_values: [shown tokens, k] the values the aggregate is taken over;
    aggregate: [shown tokens]; highlight: [shown tokens] the values that colour the text;
    spans: [shown tokens, span] character offsets in the text; grouping: the units (words
    or tokens) of the whole instance; units: [shown tokens] which unit each shown one is.
    """

    instance: Instance
    layer: int
    positions: np.ndarray
    tokens: list[str]
    heads: list[int]
    values: np.ndarray
    scope_values: np.ndarray
    aggregate: np.ndarray
    highlight: np.ndarray
    highlight_label: str
    spans: np.ndarray | None = None
    grouping: Grouping | None = None
    units: np.ndarray | None = None


def grouping_of(inst: Instance, words: bool) -> Grouping:
    """The units of ``inst``: its words, or its tokens."""
    return word_grouping(inst.spans, inst.special) if words else tokens_alone(inst.n_tokens)


def shown_tokens(inst: Instance, hide_special: bool) -> np.ndarray:
    """[tokens] bool: the tokens shown (all, or all but the special ones)."""
    return ~inst.special if hide_special else np.ones(inst.n_tokens, dtype=bool)


def view_data(inst: Instance, s: ViewSettings) -> ViewData:
    """What the views draw for instance ``inst`` under settings ``s``."""
    g = grouping_of(inst, s.words)
    units = np.flatnonzero(shown_tokens(inst, s.hide_special)[g.first])
    positions = g.first[units]
    n_heads = inst.attention.shape[2]
    heads = list(s.heads) or list(range(n_heads))
    layer, j = stored_layer(inst, s.layer)
    attention = unit_mean(inst.attention, g)[units]  # [shown, stored layers, heads]
    values = attention[:, j, :][:, heads]  # [shown, heads]
    if s.scope == SCOPE_ALL:
        scope_values = attention.reshape(len(units), -1)
    else:
        scope_values = values
    agg = aggregate(scope_values, s.aggregation)
    if s.highlight is None:
        hl, hl_label = agg, s.aggregation
    else:
        hl = attention[:, j, s.highlight].astype(np.float64)
        hl_label = f"layer {layer} {head_name(s.highlight)}"
    names = unit_strings(inst.tokens, inst.spans, inst.text, g)
    return ViewData(
        instance=inst, layer=layer, positions=positions,
        tokens=[names[u] for u in units], heads=heads, values=values,
        scope_values=scope_values, aggregate=agg, highlight=hl, highlight_label=hl_label,
        spans=unit_spans(inst.spans, g)[units], grouping=g, units=units,
    )


def stored_layer(inst: Instance, layer: int) -> tuple[int, int]:
    """(model layer number, index along the instance's attention) of ``layer``, or of the
    nearest stored layer when the store does not hold it."""
    layers = list(inst.layers)
    near = min(layers, key=lambda x: (abs(x - int(layer)), x))
    return near, layers.index(near)


def layer_head_means(inst: Instance | None, hide_special: bool) -> np.ndarray:
    """[stored layers, heads] mean self-attention of the shown tokens of ``inst`` (of all
    tokens when none is shown; empty without an instance); ``inst.layers`` names the rows."""
    if inst is None:
        return np.zeros((0, 0))
    keep = shown_tokens(inst, hide_special)
    if not keep.any():
        keep[:] = True
    return inst.attention[keep].mean(axis=0)


def instance_csv(inst: Instance | None, layer: int, words: bool = False) -> io.StringIO:
    """CSV of ``inst``: token (or word, with ``words``: one row per word, each value the
    mean over its pieces), every stored layer/head value (``L{model layer}H{head}``), the
    aggregates of ``layer`` and of all stored layers (empty without an instance)."""
    buf = io.StringIO()
    if inst is None:
        return buf
    n_heads = inst.attention.shape[2]
    g = grouping_of(inst, words)
    spans = unit_spans(inst.spans, g)
    attention = unit_mean(inst.attention, g)
    frame = pd.DataFrame({"position": g.first, "word" if words else "token":
                          unit_strings(inst.tokens, inst.spans, inst.text, g),
                          "special": inst.special[g.first],
                          "start": spans[:, 0], "end": spans[:, 1]})
    if words:
        frame.insert(2, "pieces", g.size)
    flat = attention.reshape(g.n_units, -1)
    for j, lay in enumerate(inst.layers):
        for h in range(n_heads):
            frame[f"L{lay}H{h}"] = flat[:, j * n_heads + h]
    layer, j = stored_layer(inst, layer)
    for how in AGGREGATIONS:
        frame[f"{how} (layer {layer})"] = aggregate(attention[:, j, :], how)
        frame[f"{how} (all layers)"] = aggregate(flat, how)  # all the stored layers
    frame.to_csv(buf, index=False)
    buf.seek(0)
    return buf
