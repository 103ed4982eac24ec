"""One run of a sequence classifier on one instance, with eager attention maps: what the
relations view shows (imports torch; loaded on first use)."""

from __future__ import annotations

import sys
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import torch

from .rollout import gradient_rollout_row, rollout_row


@dataclass(eq=False)
class Relations:
    """What one run gives (shapes in :mod:`attviz.dims` names). Only the shown layer's maps
    are kept.

    layer: the layer of ``maps``; maps: [heads, tokens, tokens] float32, A[h, i, j] the
    attention token i gives token j; diagonal: [tokens, layers, heads] float32, A[l, h, i, i]
    of every layer; rollout: [tokens] attention rollout row; gradient: [tokens]
    gradient-weighted rollout row for class ``target`` (None when not asked for);
    probabilities: [classes]; row: the token whose row the rollouts are (0, or the last token
    of a causal model); seconds: time the run took.
    """

    layer: int
    maps: np.ndarray
    diagonal: np.ndarray
    rollout: np.ndarray
    gradient: np.ndarray | None
    target: int | None
    probabilities: np.ndarray
    row: int
    causal: bool
    seconds: float


def is_causal(attentions) -> bool:
    """True when no token attends to a later one in any layer (a causal model's maps)."""
    n = attentions[0].shape[-1]
    if n < 2:
        return False
    upper = torch.ones(n, n, dtype=torch.bool).triu(1)
    return all(float(a[0][:, upper].abs().max()) == 0.0 for a in attentions)


def _mark_input(module, args, output):
    """Forward hook on the input embeddings: gradients flow from here (the weights have
    none), so the backward pass computes only what the attention gradients need."""
    output.requires_grad_(True)
    return output


NAME = "attviz_relations"


@dataclass
class _Capture:
    """What one light run keeps per layer call: the shown layer's maps [heads, tokens,
    tokens], every layer's mean over heads [tokens, tokens] and diagonal [heads, tokens]."""

    layer: int
    calls: int = 0
    maps: np.ndarray | None = None
    means: list = field(default_factory=list)
    diagonal: list = field(default_factory=list)


_capture: ContextVar[_Capture | None] = ContextVar("attviz_relations_capture", default=None)
_registered = False


def _capturing(module, query, key, value, attention_mask, *args, **kwargs):
    """The model's own eager attention; keeps what :class:`_Capture` says and drops the
    rest of each layer's maps before the next layer runs."""
    eager = sys.modules[type(module).__module__].eager_attention_forward
    out, weights = eager(module, query, key, value, attention_mask, *args, **kwargs)
    cap = _capture.get()
    if cap is not None:
        w = weights[0].float()
        if cap.calls == cap.layer:
            cap.maps = w.cpu().numpy().copy()
        cap.means.append(w.mean(dim=0).cpu().numpy())
        # copies: a view of the diagonal would keep every layer's maps alive
        cap.diagonal.append(torch.diagonal(w, dim1=-2, dim2=-1).cpu().numpy().copy())
        cap.calls += 1
    return out, None


def light(model) -> bool:
    """Whether ``model`` can run with one layer's maps at a time: its modeling modules
    have transformers' ``eager_attention_forward``."""
    global _registered
    modules = {type(m).__module__ for m in model.modules()}
    if not all(hasattr(sys.modules[m], "eager_attention_forward") for m in modules
               if m.startswith("transformers.models.")):
        return False
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, eager_mask

        AttentionInterface.register(NAME, _capturing)
        AttentionMaskInterface.register(NAME, eager_mask)
        _registered = True
    return True


def _set(model, name: str) -> bool:
    try:
        model.set_attn_implementation(name)
    except Exception:  # noqa: BLE001 - the model refuses: the caller takes the full path
        return False
    return model.config._attn_implementation == name


def run_light(model, ids, mask, layer: int) -> tuple | None:
    """(maps, diagonal [tokens, layers, heads], means, probabilities) from a run that
    holds one layer's maps at a time (memory: heads x tokens^2 for the shown layer plus
    tokens^2 per layer for the rollout, instead of layers x heads x tokens^2); None when
    the model does not allow it."""
    if not light(model) or not _set(model, NAME):
        return None
    cap = _Capture(layer=layer)
    token = _capture.set(cap)
    try:
        with torch.inference_mode():
            out = model(input_ids=ids, attention_mask=mask)
    finally:
        _capture.reset(token)
        _set(model, "eager")
    n_layers = model.config.num_hidden_layers
    if cap.calls != n_layers or cap.maps is None and layer < n_layers:
        return None  # not one attention call per layer: count on the full maps instead
    diagonal = np.stack(cap.diagonal).transpose(2, 0, 1)  # [tokens, layers, heads]
    return cap.maps, diagonal, cap.means, torch.softmax(out.logits[0].float(), -1)


def run(model, token_ids: np.ndarray, layer: int, target: int | None = None,
        gradient: bool = False) -> Relations:
    """Run ``model`` (eager attention, eval mode) on ``token_ids`` ([tokens]) alone.

    ``gradient``: also the gradient-weighted rollout for class ``target`` (None: the
    predicted class), from the gradient of that class's logit (one backward pass).
    """
    t0 = time.perf_counter()
    ids = torch.as_tensor(np.asarray(token_ids, dtype=np.int64))[None]
    device = next(model.parameters()).device
    ids = ids.to(device)
    mask = torch.ones_like(ids)
    n_layers = getattr(model.config, "num_hidden_layers", None)
    got = None
    if not gradient and n_layers:
        layer = min(max(0, layer), n_layers - 1)
        got = run_light(model, ids, mask, layer)
    if got is not None:
        maps, diagonal, means, probs = got
        n = ids.shape[1]
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        causal = n > 1 and all(float(m[upper].max(initial=0)) == 0.0 for m in means)
        row = n - 1 if causal else 0
        return Relations(layer=layer, maps=maps, diagonal=diagonal,
                         rollout=rollout_row(means, row), gradient=None, target=None,
                         probabilities=probs.cpu().numpy(), row=row, causal=causal,
                         seconds=time.perf_counter() - t0)
    if gradient:
        hook = model.get_input_embeddings().register_forward_hook(_mark_input)
        try:
            with torch.enable_grad():
                out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
                atts = out.attentions
                for a in atts:
                    a.retain_grad()
                probs = torch.softmax(out.logits[0].detach().float(), -1)
                cls = int(probs.argmax()) if target is None else int(target)
                out.logits[0, cls].backward()
        finally:
            hook.remove()
        grads = [a.grad for a in atts]
        atts = [a.detach() for a in atts]
        del out
    else:
        with torch.inference_mode():
            out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
        atts, grads, cls = out.attentions, None, None
        probs = torch.softmax(out.logits[0].float(), -1)
        del out
    if not atts or atts[0].dim() != 4:
        raise RuntimeError("the model returned no attention maps")
    with torch.no_grad():
        causal = is_causal(atts)
        n = ids.shape[1]
        row = n - 1 if causal else 0
        layer = min(max(0, layer), len(atts) - 1)
        maps = atts[layer][0].float().cpu().numpy().copy()
        diagonal = torch.stack([torch.diagonal(a[0], dim1=-2, dim2=-1) for a in atts])
        diagonal = diagonal.float().permute(2, 0, 1).cpu().numpy().copy()
        means = [a[0].float().mean(dim=0).cpu().numpy() for a in atts]
        scores = rollout_row(means, row)
        grad_scores = None
        if grads is not None:
            rel = [(g[0] * a[0]).float().clamp(min=0).mean(dim=0).cpu().numpy()
                   for g, a in zip(grads, atts)]
            grad_scores = gradient_rollout_row(rel, row)
    del atts, grads
    return Relations(layer=layer, maps=maps, diagonal=diagonal, rollout=scores,
                     gradient=grad_scores, target=cls, probabilities=probs.cpu().numpy(),
                     row=row, causal=causal, seconds=time.perf_counter() - t0)
