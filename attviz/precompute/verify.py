"""Check a store against the model: re-run instances with eager attention and compare.

The eager re-run keeps one layer's maps at a time: an attention function registered with
transformers calls the model's own eager attention (``eager_attention_forward`` of its
modeling module, which applies its masks, sliding windows and soft-capping) and hands on
only the diagonal, so a 4,096-token instance needs one layer's [heads, tokens, tokens]
maps, not every layer's (docs/benchmarks.md). Models without that function run with
``attn_implementation="eager"`` and ``output_attentions=True``.
"""

from __future__ import annotations

import sys

import numpy as np

from ..errors import UserError
from ..store import BaseStore, codec

NAME = "attviz_verify"
# a stored 8-bit value is within RELATIVE of the eager one above codec.FLOOR, within
# codec.FLOOR below; values within SLACK of the floor are judged by the absolute bound (the
# fused and the eager kernel differ by about 1e-6 of a value)
RELATIVE = 0.03
SLACK = 1.001


def _eager_diagonal(module, query, key, value, attention_mask, *args, **kwargs):
    """The model's eager attention, returning the diagonal [batch, heads, tokens] as its
    weights."""
    import torch

    eager = sys.modules[type(module).__module__].eager_attention_forward
    out, weights = eager(module, query, key, value, attention_mask, *args, **kwargs)
    # a copy: a view of the diagonal would keep every layer's maps alive
    return out, torch.diagonal(weights, dim1=-2, dim2=-1).clone()


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, _eager_diagonal)
    AttentionMaskInterface.register(NAME, eager_mask)


def load_eager(name: str):
    """The classifier ``name`` (float32, eval) and whether it hands on diagonals only."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name, attn_implementation="eager", dtype=torch.float32).eval()
    except (OSError, ValueError) as e:  # no such model, or not a classifier
        raise UserError(f"--model {name}: cannot load a sequence classifier "
                        f"({str(e).splitlines()[0]})") from None
    modules = {type(m).__module__ for m in model.modules()}
    if all(hasattr(sys.modules[m], "eager_attention_forward") for m in modules
           if m.startswith("transformers.models.")):
        _register()
        try:
            model.set_attn_implementation(NAME)
        except Exception:  # noqa: BLE001 - the model refuses: full maps, as before
            pass
    return model, model.config._attn_implementation == NAME


def eager_diagonals(model, token_ids: np.ndarray, diagonal_only: bool):
    """(diagonals [tokens, layers, heads] float32, probabilities [classes]) of one instance
    run alone (no padding)."""
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.from_numpy(token_ids.astype(np.int64))[None],
                    output_attentions=True)
    if diagonal_only:
        diag = torch.stack([a[0] for a in out.attentions])  # [layers, heads, tokens]
    else:
        diag = torch.stack([torch.diagonal(a[0], dim1=-2, dim2=-1) for a in out.attentions])
    probs = torch.softmax(out.logits[0].float(), -1).numpy()
    return diag.permute(2, 0, 1).float().numpy(), probs


def verify(store: BaseStore, model_name: str | None = None, sample: int | None = None,
           seed: int = 0, progress: bool = False) -> dict:
    """Largest differences between stored values and an eager ``output_attentions`` run.

    Each instance's stored token ids are fed to the model alone (no padding) with eager
    attention; the diagonal of every stored layer's attention map is compared with
    ``/attention/self`` (decoded) and the softmax of the logits with the stored
    probabilities. ``sample``: check that many instances drawn at random (default: all).
    Returns the largest absolute difference, the largest relative one over eager values of
    at least 1e-6, and for 8-bit stores whether every value is within the code's bound.
    """
    from tqdm.auto import tqdm

    name = model_name or str(store.meta.provenance.get("model", ""))
    if not name:
        raise UserError("the store does not name its model; pass --model")
    model, diagonal_only = load_eager(name)
    layers = store.meta.layers
    n = store.n_instances
    if sample is not None and sample < n:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    else:
        idx = np.arange(n)
    worst_att = worst_rel = worst_prob = 0.0
    flips = outside = 0
    bar = tqdm(total=len(idx), unit="inst", desc="verify", disable=not progress)
    for lo in range(0, len(idx), 256):
        for inst in store.read_instances(idx[lo : lo + 256]):
            want, probs = eager_diagonals(model, inst.token_ids, diagonal_only)
            want = want[:, layers]
            err = np.abs(inst.attention.astype(np.float64) - want)
            worst_att = max(worst_att, float(err.max(initial=0)))
            big = want >= codec.FLOOR * SLACK
            if big.any():
                worst_rel = max(worst_rel, float((err[big] / want[big]).max()))
            outside += int(np.sum(np.where(big, err > RELATIVE * want, err > codec.FLOOR * SLACK)))
            worst_prob = max(worst_prob, float(np.abs(inst.probabilities - probs).max()))
            flips += int(np.argmax(probs) != inst.prediction)
            bar.update(1)
    bar.close()
    return {"model": name, "checked": int(len(idx)), "precision": store.precision,
            "layers": list(layers), "max_abs_attention_diff": worst_att,
            "max_rel_attention_diff": worst_rel, "values_outside_8bit_bound": outside,
            "max_abs_probability_diff": worst_prob, "prediction_mismatches": flips,
            "eager_path": "diagonal per layer" if diagonal_only else "full maps"}
