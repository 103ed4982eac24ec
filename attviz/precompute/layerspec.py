"""``--layers SPEC``: which layers' diagonals a precompute stores.

SPEC is a comma-separated list of items, each a layer or a range of layers; layer numbers
count from 0 (the layer nearest the input), negative numbers from the end (-1: the last):

    5        layer 5                      -1      the last layer
    0-3      layers 0, 1, 2 and 3         -4-     the last four layers
    6-       layer 6 to the last          -4--2   the fourth- to second-last
    0,5,11   layers 0, 5 and 11           0-1,-2- the first two and the last two

Layers named twice are stored once, in model order.
"""

from __future__ import annotations

import re

from ..errors import UserError

_ITEM = re.compile(r"^(-?\d+)(?:(-)(-?\d+)?)?$")
EXAMPLES = "0,5,11  0-3  6-  -1  -4-"


def parse(spec: str) -> list[tuple[int, int | None, bool]]:
    """The items of ``spec`` as (first, last, is_range); last None: to the last layer.
    UserError (one line) when it is not a spec."""
    items = []
    for raw in str(spec).replace(" ", "").split(","):
        m = _ITEM.match(raw)
        if not m:
            raise UserError(f"--layers {spec}: {raw!r} is not a layer or a range of layers "
                            f"(examples: {EXAMPLES})")
        first, dash, last = m.groups()
        items.append((int(first), None if last is None else int(last), dash is not None))
    return items


def resolve(spec: str | None, num_layers: int) -> list[int] | None:
    """The model layer numbers ``spec`` names for a model of ``num_layers`` layers,
    ascending; None for every layer (no spec, or one naming them all)."""
    if spec is None or str(spec).strip().lower() in ("", "all"):
        return None

    def number(k: int) -> int:
        layer = k + num_layers if k < 0 else k
        if not 0 <= layer < num_layers:
            raise UserError(f"--layers {spec}: layer {k} is not in 0..{num_layers - 1} or "
                            f"-{num_layers}..-1 (the model has {num_layers} layers)")
        return layer

    chosen: set[int] = set()
    for first, last, is_range in parse(spec):
        a = number(first)
        b = (num_layers - 1 if last is None else number(last)) if is_range else a
        if b < a:
            raise UserError(f"--layers {spec}: the range {first}-{last} is empty (layers "
                            f"{a} to {b})")
        chosen.update(range(a, b + 1))
    layers = sorted(chosen)
    return None if layers == list(range(num_layers)) else layers
