"""The self-attention diagonal A[l, h, i, i] of every layer and head, without attention maps.

An attention function registered with transformers' ``AttentionInterface`` computes each
layer's output with a fused kernel that also returns the row log-sum-exp (LSE) and gets
the diagonal from it:

    A[i, i] = exp(scale * q_i . k_i + mask[i, i] - LSE_i)

The same log-sum-exp gives any single entry of a row: A[i, j] = exp(scale * q_i . k_j +
mask[i, j] - LSE_i). So the attention every query gives to the first token and to the
instance's last token costs one dot product per token, like the diagonal. With
``entropy``, one more kernel call with the keys as values gives sum_j A_ij k_j, and the row
entropy is H_i = LSE_i - scale * q_i . sum_j A_ij k_j.

It returns, in place of the attention weights, [batch, heads, tokens, quantities]: the
diagonal, A[i, 0], A[i, n - 1] (n: the instance's length) and, with ``entropy``, H_i /
log(n); ``outputs.attentions`` collects one such tensor per layer. Nothing of size tokens
x tokens is kept: the kernels stream over keys.

Kernels: on CPU ``aten._scaled_dot_product_flash_attention_for_cpu`` (returns the LSE);
on CUDA ``aten._scaled_dot_product_efficient_attention(compute_log_sumexp=True)`` (LSE
padded to a multiple of 32). Where neither fits (other devices, soft-capping, sinks,
sliding windows, position bias, training-time dropout, a kernel error) the layer runs
eagerly and the diagonal is read from its softmax; the calling extractor's ``DiagonalStats``
counts both. Either way the output goes through the current head gates (:mod:`.gates`), and
both kernels have a backward pass, so head importance (dL/dg) costs one backward pass.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from . import gates

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


QUANTITIES = ("self", "first", "last", "entropy")  # per query token, in this order


@dataclass
class Recording:
    """What the forward pass running in this thread (or task) wants: where to count layer
    calls, each instance's length ([batch] tensor, None: the padded length), whether to
    compute row entropies and whether the last layer's work after its attention is for the
    first row only (:mod:`.readout`)."""

    stats: DiagonalStats
    lengths: torch.Tensor | None = None
    entropy: bool = False
    first_row_only: bool = False
    _mask: tuple = ()  # (the layer's mask, dtype, its additive form): the last one made
    _ends: tuple = ()  # (the additive mask, tokens, last index, its entries): the last made

    def additive(self, mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        """``_additive(mask, dtype)``, made once for the layers that get the same mask
        tensor (transformers builds the mask once per forward pass)."""
        if self._mask and self._mask[0] is mask and self._mask[1] == dtype:
            return self._mask[2]
        out = _additive(mask, dtype)
        self._mask = (mask, dtype, out)
        return out

    def ends(self, mask: torch.Tensor | None, batch: int, t: int, device
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``_ends(mask, self.lengths, ...)``, made once for the layers that get the same
        additive mask."""
        if self._ends and self._ends[0] is mask and self._ends[1] == t:
            return self._ends[2], self._ends[3]
        last, entries = _ends(mask, self.lengths, batch, t, device)
        self._ends = (mask, t, last, entries)
        return last, entries


# Set by recording_into; layer calls outside it are not counted and give no entropy.
_current: ContextVar[Recording | None] = ContextVar("attviz_diagonal_recording", default=None)
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


def _causal_mask(t: int, like: torch.Tensor) -> torch.Tensor:
    """Additive [1, 1, t, t] mask letting query i see keys 0..i."""
    keep = torch.ones(t, t, dtype=torch.bool, device=like.device).tril()
    return _additive(keep[None, None], like.dtype)


def _entries(mask: torch.Tensor, last: torch.Tensor, t: int) -> torch.Tensor:
    """mask[b, :, i, j] for the keys j = i, 0 and last[b] of every query i: [batch, heads or
    1, t, 3]; a mask of one query row ([..., 1, keys]) is that row for every query."""
    b = len(last)
    rows = mask[..., :t, :] if mask.shape[-2] > 1 else mask[..., :1, :].expand(
        *mask.shape[:-2], t, mask.shape[-1])
    rows = rows.expand(b, *rows.shape[1:])
    i = torch.arange(t, device=mask.device).expand(b, t)
    keys = torch.stack([i, torch.zeros_like(i), last.view(-1, 1).expand(b, t)], dim=-1)
    return torch.gather(rows, -1, keys[:, None].expand(b, rows.shape[1], t, 3)).float()


def _last_index(lengths: torch.Tensor | None, batch: int, t: int, device) -> torch.Tensor:
    if lengths is None:
        return torch.full((batch,), t - 1, dtype=torch.long, device=device)
    return (lengths.to(device=device, dtype=torch.long) - 1).clamp(0, t - 1)


def _ends(mask: torch.Tensor | None, lengths: torch.Tensor | None, batch: int, t: int,
          device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(each instance's last token [batch], ``_entries`` of ``mask`` or None)."""
    last = _last_index(lengths, batch, t, device)
    return last, (_entries(mask, last, t) if mask is not None else None)


def map_quantities(weights: torch.Tensor, lengths: torch.Tensor | None, entropy: bool
                   ) -> torch.Tensor:
    """The per-query quantities (QUANTITIES) from full maps [batch, heads, tokens, tokens]."""
    b, _, t, _ = weights.shape
    w = weights.float()
    last = _last_index(lengths, b, t, w.device)
    out = [torch.diagonal(w, dim1=-2, dim2=-1), w[..., 0],
           torch.gather(w, -1, last.view(-1, 1, 1, 1).expand(b, w.shape[1], t, 1))[..., 0]]
    if entropy:
        h = -(w * torch.log(w.clamp_min(1e-30))).sum(-1)
        n = (last + 1).float().view(-1, 1, 1)
        out.append(torch.where(n > 1, h / torch.log(n.clamp_min(2)), torch.zeros_like(h)))
    return torch.stack(out, dim=-1)


def _eager(query, key, value, mask, scaling, causal, lengths, entropy):
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if causal:
        scores = scores + _causal_mask(query.shape[2], scores)
    if mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores.float(), dim=-1)
    out = torch.matmul(weights.to(value.dtype), value)
    with torch.no_grad():
        return out, map_quantities(weights, lengths, entropy)


def _fused_quantities(query, key, lse, mask, scaling, causal, lengths, out_k=None,
                      rec: Recording | None = None):
    """The per-query quantities from the kernel's log-sum-exp (no maps): [batch, heads,
    tokens, QUANTITIES]. ``rec``: the forward pass's recording, which keeps what every
    layer shares (the last tokens, the mask's entries)."""
    b, _, t, _ = query.shape
    q, k, lse = query.float(), key.float(), lse.float()
    last, entries = (rec.ends(mask, b, t, q.device) if rec is not None
                     else _ends(mask, lengths, b, t, q.device))
    # the keys of the first token and of each instance's last one: [batch, heads, head_dim, 2]
    k_last = torch.gather(k, 2, last.view(-1, 1, 1, 1).expand(b, k.shape[1], 1, k.shape[3]))
    ends = torch.cat([k[:, :, :1], k_last], dim=2).mT
    # scale * q_i . k_j for the keys j = i, 0, last: [batch, heads, tokens, 3] (the product
    # and sum beat linalg.vecdot and einsum in the layouts models give)
    scores = torch.cat([(q * k).sum(-1)[..., None], q @ ends], dim=-1).mul_(scaling)
    if entries is not None:
        scores += entries
    elif causal:  # no mask given: query i sees keys 0..i
        hidden = torch.arange(t, device=q.device).view(1, 1, t) < last.view(-1, 1, 1)
        scores[..., 2] += torch.where(hidden, float("-inf"), 0.0)
    out = scores.sub_(lse[..., None]).exp_()
    if out_k is None:
        return out
    h = lse - scaling * (q * out_k.float()).sum(-1)
    n = (last + 1).float().view(-1, 1, 1)
    entropy = torch.where(n > 1, h / torch.log(n.clamp_min(2)), torch.zeros_like(h))
    return torch.cat([out, entropy[..., None]], dim=-1)


def diagonal_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                       **kwargs):
    """Attention output [batch, tokens, heads, head_dim] and the per-query quantities
    [batch, heads, tokens, QUANTITIES] (see the module).

    query: [batch, heads, tokens, head_dim]; key, value: [batch, kv_heads, tokens, head_dim];
    attention_mask: [batch, 1, tokens, tokens] boolean keep-mask or additive float, or None.
    """
    global _cuda_broken
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    groups = query.shape[1] // key.shape[1]
    key, value = _repeat_kv(key, groups), _repeat_kv(value, groups)
    t = query.shape[2]
    rec = _current.get()
    mask = (rec.additive(attention_mask, query.dtype) if rec is not None
            else _additive(attention_mask, query.dtype))
    # Decoder models: transformers skips building a causal mask when there is no padding and
    # leaves causality to the kernel (as its own SDPA path does).
    is_causal = kwargs.get("is_causal")
    if is_causal is None:
        is_causal = getattr(module, "is_causal", False)
    causal = bool(is_causal) and mask is None and t > 1
    reason = ""
    if any(kwargs.get(k) is not None for k in _UNSUPPORTED_KWARGS):
        reason = "the layer uses " + ", ".join(k for k in _UNSUPPORTED_KWARGS
                                               if kwargs.get(k) is not None)
    elif key.shape[2] != t:
        reason = "queries and keys differ in length"
    elif dropout and module.training:
        reason = "attention dropout in training mode"
    elif query.device.type not in ("cpu", "cuda"):
        reason = f"no fused kernel with log-sum-exp on {query.device.type}"
    elif query.device.type == "cuda" and _cuda_broken:
        reason = "the CUDA kernel failed earlier"
    lengths = rec.lengths if rec is not None else None
    entropy = rec is not None and rec.entropy
    out = lse = out_k = None
    if not reason:
        try:
            out, lse = _kernel(query, key, value, mask, scaling, causal)
            if entropy:  # sum_j A_ij k_j: the same kernel with the keys as values
                with torch.no_grad():
                    out_k, _ = _kernel(query, key, key, mask, scaling, causal)
        except torch.cuda.OutOfMemoryError:
            raise  # not a reason to fall back to eager, which needs more memory
        except RuntimeError as e:
            if query.device.type == "cuda":
                _cuda_broken = True  # an unsupported shape or dtype: do not retry every layer
            reason = f"fused kernel failed ({str(e).splitlines()[0][:120]})"
    if reason:
        out, quantities = _eager(query, key, value, mask, scaling, causal, lengths, entropy)
    else:
        with torch.no_grad():  # the quantities are read, never differentiated
            quantities = _fused_quantities(query, key, lse, mask, scaling, causal, lengths,
                                           out_k, rec)
    if rec is not None:
        rec.stats.record(reason)
    return gates.apply(out).transpose(1, 2).contiguous(), quantities


def _kernel(query, key, value, mask, scaling, causal):
    """Attention output and row log-sum-exp [batch, heads, tokens] from the fused kernel."""
    t = query.shape[2]
    if query.device.type == "cpu":
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            query, key, value, 0.0, causal, attn_mask=mask, scale=scaling)[:2]
    bias = None
    if mask is not None:
        pad = (-mask.shape[-1]) % 16  # the kernel wants 16-aligned rows
        bias = F.pad(mask, (0, pad))[..., : mask.shape[-1]] if pad else mask
        bias = bias.expand(query.shape[0], query.shape[1], t, t)
    out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(
        query, key, value, bias, True, 0.0, causal, scale=scaling)[:2]
    return out, lse[..., :t]


@contextmanager
def recording_into(stats: DiagonalStats, lengths: torch.Tensor | None = None,
                   entropy: bool = False, first_row_only: bool = False
                   ) -> Iterator[DiagonalStats]:
    """Layer calls of the attention function inside the block are counted in ``stats``;
    ``lengths`` ([batch]) locate each instance's last token; ``entropy`` adds row entropies;
    ``first_row_only``: the wrapped last layer (:mod:`.readout`) computes the first row only.

    A context variable: each thread (or asyncio task) counts into its own extractor's stats.
    """
    token = _current.set(Recording(stats, lengths, entropy, first_row_only))
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
