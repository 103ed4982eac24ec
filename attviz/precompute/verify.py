"""Check a store against the model: re-run instances with eager attention and compare."""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..store import BaseStore


def verify(store: BaseStore, model_name: str | None = None, sample: int | None = None,
           seed: int = 0, progress: bool = False) -> dict:
    """Largest differences between stored values and an eager ``output_attentions`` run.

    Each instance's stored token ids are fed to the model alone (no padding) with
    ``attn_implementation="eager"``; the diagonal of every layer's attention map is compared
    with ``/attention/self`` and the softmax of the logits with the stored probabilities.
    ``sample``: check that many instances drawn at random (default: all).
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    name = model_name or str(store.meta.provenance.get("model", ""))
    if not name:
        raise UserError("the store does not name its model; pass --model")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name, attn_implementation="eager", dtype=torch.float32).eval()
    except (OSError, ValueError) as e:  # no such model, or not a classifier
        raise UserError(f"--model {name}: cannot load a sequence classifier "
                        f"({str(e).splitlines()[0]})") from None
    n = store.n_instances
    if sample is not None and sample < n:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    else:
        idx = np.arange(n)
    worst_att = worst_prob = 0.0
    flips = 0
    bar = tqdm(total=len(idx), unit="inst", desc="verify", disable=not progress)
    for lo in range(0, len(idx), 256):
        for inst in store.read_instances(idx[lo : lo + 256]):
            with torch.inference_mode():
                out = model(input_ids=torch.from_numpy(inst.token_ids.astype(np.int64))[None],
                            output_attentions=True)
            diag = torch.stack([torch.diagonal(a[0], dim1=-2, dim2=-1) for a in out.attentions])
            want = diag.permute(2, 0, 1).float().numpy()  # [tokens, layers, heads]
            probs = torch.softmax(out.logits[0].float(), -1).numpy()
            worst_att = max(worst_att, float(np.abs(inst.attention - want).max()))
            worst_prob = max(worst_prob, float(np.abs(inst.probabilities - probs).max()))
            flips += int(np.argmax(probs) != inst.prediction)
            bar.update(1)
    bar.close()
    return {"model": name, "checked": int(len(idx)), "max_abs_attention_diff": worst_att,
            "max_abs_probability_diff": worst_prob, "prediction_mismatches": flips}
