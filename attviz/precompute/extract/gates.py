"""Gating attention heads (Michel et al. 2019, "Are Sixteen Heads Really Better than One?").

A gate g[l, h] multiplies head h's slice of layer l's attention context, the attention
function's output before the layer's output projection. dL/dg at g = 1 is the head's
importance for the loss L; g = 0 switches the head off (an ablation).

Gates act inside the attention functions that transformers' ``AttentionInterface`` calls:
attviz's diagonal function (:mod:`.diagonal`) and two wrappers registered here, one around
transformers' SDPA function (:data:`SDPA`, for ablations) and one around the model's own
eager function (:data:`EAGER`, for models whose layers need it: soft-capping, sinks). A
model that does not call the interface cannot be gated. Layers are counted in the order
the forward pass calls the attention function, so shared layers (ALBERT) get a gate per
use. Nothing of the model's code is copied.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch

SDPA = "attviz_gated_sdpa"
EAGER = "attviz_gated_eager"
_NEEDS_EAGER = ("softcap", "s_aux", "sinks")  # what transformers' SDPA function cannot do


@dataclass
class Gating:
    """The gates of one forward pass: ``values`` [batch or 1, layers, heads] (a tensor that
    may require gradients); ``calls`` counts the attention calls gated so far."""

    values: torch.Tensor
    calls: int = 0


class CannotGate(RuntimeError):
    """The model's attention cannot be gated (one sentence why)."""


class NeedsEager(RuntimeError):
    """A layer needs what the SDPA wrapper cannot do: run the model with :data:`EAGER`."""


_current: ContextVar[Gating | None] = ContextVar("attviz_gating", default=None)


@contextmanager
def gating(values: torch.Tensor) -> Iterator[Gating]:
    """Attention calls inside the block are gated by ``values`` ([batch or 1, layers,
    heads]); the Gating yielded counts them. A context variable: per thread or task."""
    g = Gating(values)
    token = _current.set(g)
    try:
        yield g
    finally:
        _current.reset(token)


def apply(out: torch.Tensor, heads_dim: int = 1) -> torch.Tensor:
    """One layer's attention output gated by the current gates (unchanged without any).

    out: [batch, heads, tokens, head_dim] (``heads_dim`` 1) or [batch, tokens, heads,
    head_dim] (``heads_dim`` 2)."""
    g = _current.get()
    if g is None:
        return out
    layer = g.calls
    g.calls += 1
    if layer >= g.values.shape[1]:
        raise CannotGate(f"the model calls attention more often than it has layers "
                         f"({g.values.shape[1]})")
    gate = g.values[:, layer].to(out.dtype)  # [batch or 1, heads]
    if gate.shape[1] != out.shape[heads_dim]:
        raise CannotGate(f"a layer has {out.shape[heads_dim]} heads, not {gate.shape[1]}")
    shape = [gate.shape[0], 1, 1, 1]
    shape[heads_dim] = gate.shape[1]
    return out * gate.reshape(shape)


def _module_eager(module):
    """The eager attention function of the model that ``module`` belongs to."""
    fn = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
    if fn is None:
        raise CannotGate(f"{type(module).__name__} has no eager attention function")
    return fn


def gated_sdpa(module, query, key, value, attention_mask, **kwargs):
    """transformers' SDPA attention, gated; :class:`NeedsEager` for soft-capping or sinks."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if any(kwargs.get(k) is not None for k in _NEEDS_EAGER):
        raise NeedsEager(", ".join(k for k in _NEEDS_EAGER if kwargs.get(k) is not None))
    out, weights = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    return apply(out, heads_dim=2), weights


def gated_eager(module, query, key, value, attention_mask, **kwargs):
    """The model's own eager attention (full maps as weights), gated."""
    out, weights = _module_eager(module)(module, query, key, value, attention_mask, **kwargs)
    return apply(out, heads_dim=2), weights


_registered = False


def register() -> tuple[str, str]:
    """Register both wrappers (with transformers' mask builders); returns (SDPA, EAGER)."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask, sdpa_mask

        AttentionInterface.register(SDPA, gated_sdpa)
        AttentionMaskInterface.register(SDPA, sdpa_mask)
        AttentionInterface.register(EAGER, gated_eager)
        AttentionMaskInterface.register(EAGER, eager_mask)
        _registered = True
    return SDPA, EAGER


def set_attention(model, name: str) -> bool:
    """Switch ``model`` to the attention function ``name``; False when it cannot use it
    (its layers do not call transformers' attention interface)."""
    import logging

    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        model.set_attn_implementation(name)
    except Exception:  # noqa: BLE001 - a model that refuses the name keeps its own
        pass
    finally:
        logger.setLevel(level)
    return model.config._attn_implementation == name


def check_calls(g: Gating, num_layers: int) -> None:
    """Raise :class:`CannotGate` unless the forward pass gated every layer once."""
    if g.calls != num_layers:
        raise CannotGate(f"the model called the gated attention {g.calls} times for "
                         f"{num_layers} layers")
