"""The self-attention diagonal A[l, h, i, i] of every layer and head, without attention maps.

An attention function registered with transformers' ``AttentionInterface`` computes each
layer's output with a fused kernel that also returns the row log-sum-exp (LSE) and gets
the diagonal from it:

    A[i, i] = exp(scale * q_i . k_i + mask[i, i] - LSE_i)

It returns the diagonal, [batch, heads, tokens], in place of the attention weights, so
``outputs.attentions`` collects one diagonal per layer. Nothing of size tokens x tokens
is kept: the kernels stream over keys.

Kernels: on CPU ``aten._scaled_dot_product_flash_attention_for_cpu`` (returns the LSE);
on CUDA ``aten._scaled_dot_product_efficient_attention(compute_log_sumexp=True)`` (LSE
padded to a multiple of 32). Where neither fits (other devices, soft-capping, sinks,
sliding windows, position bias, training-time dropout, a kernel error) the layer runs
eagerly and the diagonal is read from its softmax; the calling extractor's ``DiagonalStats``
counts both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

NAME = "attviz_diagonal"

_UNSUPPORTED_KWARGS = ("softcap", "sliding_window", "s_aux", "sinks", "position_bias")


@dataclass
class DiagonalStats:
    """How many layer calls took the fused path and how many ran eagerly (and why)."""

    fused: int = 0
    eager: int = 0
    reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reset(self) -> None:
        with self._lock:
            self.fused = self.eager = 0
            self.reason = ""

    def record(self, reason: str = "") -> None:
        """Count one layer call: fused when ``reason`` is empty, else eager because of it."""
        with self._lock:
            if reason:
                self.eager += 1
                self.reason = self.reason or reason
            else:
                self.fused += 1


# The stats of the forward pass running in this thread (or task), set by recording_into;
# layer calls outside it are not counted.
_current: ContextVar[DiagonalStats | None] = ContextVar("attviz_diagonal_stats", default=None)
_registered = False
_cuda_broken = False


def _additive(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean keep-mask as an additive float mask (0 keep, dtype's min drop)."""
    if mask is None or mask.dtype != torch.bool:
        return None if mask is None else mask.to(dtype)
    out = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return out.masked_fill_(~mask, torch.finfo(dtype).min)


def _repeat_kv(x: torch.Tensor, n: int) -> torch.Tensor:
    if n == 1:
        return x
    b, h, t, d = x.shape
    return x[:, :, None].expand(b, h, n, t, d).reshape(b, h * n, t, d)


def _mask_diagonal(mask: torch.Tensor | None, t: int) -> torch.Tensor | float:
    """mask[..., i, i]: [batch or 1, heads or 1, t]; a mask of one query row broadcasts."""
    if mask is None:
        return 0.0
    if mask.shape[-2] == 1:  # [batch, 1, 1, keys]: the same row for every query
        return mask[..., 0, :t].float()
    return torch.diagonal(mask[..., :t, :t], dim1=-2, dim2=-1).float()


def _causal_mask(t: int, like: torch.Tensor) -> torch.Tensor:
    """Additive [1, 1, t, t] mask letting query i see keys 0..i."""
    keep = torch.ones(t, t, dtype=torch.bool, device=like.device).tril()
    return _additive(keep[None, None], like.dtype)


def _eager(query, key, value, mask, scaling, causal=False):
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if causal:
        scores = scores + _causal_mask(query.shape[2], scores)
    if mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores.float(), dim=-1)
    out = torch.matmul(weights.to(value.dtype), value)
    return out, torch.diagonal(weights, dim1=-2, dim2=-1)


def diagonal_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                       **kwargs):
    """Attention output [batch, tokens, heads, head_dim] and diagonal [batch, heads, tokens].

    query: [batch, heads, tokens, head_dim]; key, value: [batch, kv_heads, tokens, head_dim];
    attention_mask: [batch, 1, tokens, tokens] boolean keep-mask or additive float, or None.
    """
    global _cuda_broken
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    groups = query.shape[1] // key.shape[1]
    key, value = _repeat_kv(key, groups), _repeat_kv(value, groups)
    t = query.shape[2]
    mask = _additive(attention_mask, query.dtype)
    # Decoder models: transformers skips building a causal mask when there is no padding and
    # leaves causality to the kernel (as its own SDPA path does).
    is_causal = kwargs.get("is_causal")
    if is_causal is None:
        is_causal = getattr(module, "is_causal", False)
    causal = bool(is_causal) and mask is None and t > 1
    reason = ""
    if any(kwargs.get(k) is not None for k in _UNSUPPORTED_KWARGS):
        reason = "the layer uses " + ", ".join(k for k in _UNSUPPORTED_KWARGS if kwargs.get(k) is not None)
    elif key.shape[2] != t:
        reason = "queries and keys differ in length"
    elif dropout and module.training:
        reason = "attention dropout in training mode"
    elif query.device.type not in ("cpu", "cuda"):
        reason = f"no fused kernel with log-sum-exp on {query.device.type}"
    elif query.device.type == "cuda" and _cuda_broken:
        reason = "the CUDA kernel failed earlier"
    out = lse = None
    if not reason:
        try:
            if query.device.type == "cpu":
                out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                    query, key, value, 0.0, causal, attn_mask=mask, scale=scaling
                )
            else:
                bias = None
                if mask is not None:
                    pad = (-mask.shape[-1]) % 16  # the kernel wants 16-aligned rows
                    bias = F.pad(mask, (0, pad))[..., : mask.shape[-1]] if pad else mask
                    bias = bias.expand(query.shape[0], query.shape[1], t, t)
                out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(
                    query, key, value, bias, True, 0.0, causal, scale=scaling
                )[:2]
                lse = lse[..., :t]
        except torch.cuda.OutOfMemoryError:
            raise  # not a reason to fall back to eager, which needs more memory
        except RuntimeError as e:
            if query.device.type == "cuda":
                _cuda_broken = True  # an unsupported shape or dtype: do not retry every layer
            reason = f"fused kernel failed ({str(e).splitlines()[0][:120]})"
    if reason:
        out, diag = _eager(query, key, value, mask, scaling, causal)
    else:
        qk = (query.float() * key.float()).sum(-1) * scaling  # [batch, heads, tokens]
        diag = torch.exp(qk + _mask_diagonal(mask, t) - lse.float())
    stats = _current.get()
    if stats is not None:
        stats.record(reason)
    return out.transpose(1, 2).contiguous(), diag


@contextmanager
def recording_into(stats: DiagonalStats) -> Iterator[DiagonalStats]:
    """Layer calls of the attention function inside the block are counted in ``stats``.

    A context variable: each thread (or asyncio task) counts into its own extractor's stats.
    """
    token = _current.set(stats)
    try:
        yield stats
    finally:
        _current.reset(token)


def register() -> str:
    """Register the attention function (and transformers' SDPA mask builder) under NAME."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, diagonal_attention)
        # Without a mask function registered under the same name, padding masks are not built.
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _registered = True
    return NAME
