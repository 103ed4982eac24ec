"""Independent computations with transformers' eager attention, to check attviz against."""

from __future__ import annotations

import numpy as np


def reference(model_dir, token_ids, cls=None, last_row=False):
    """Maps [layers, heads, tokens, tokens], rollout row and gradient rollout row for class
    ``cls`` (None: predicted), from eager output_attentions with gradients, full matrices."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, attn_implementation="eager").eval()
    out = model(input_ids=torch.tensor(np.asarray(token_ids, dtype=np.int64))[None],
                output_attentions=True)
    for a in out.attentions:
        a.retain_grad()
    cls = int(out.logits[0].argmax()) if cls is None else cls
    out.logits[0, cls].backward()
    maps = np.stack([a[0].detach().numpy() for a in out.attentions]).astype(np.float64)
    grads = np.stack([a.grad[0].numpy() for a in out.attentions]).astype(np.float64)
    n = maps.shape[-1]
    roll = np.eye(n)
    grad_roll = np.eye(n)
    for layer in range(maps.shape[0]):  # R = M_L ... M_1: each layer multiplies from the left
        a = maps[layer].mean(axis=0) + np.eye(n)
        roll = (a / a.sum(axis=1, keepdims=True)) @ roll
        rel = np.maximum(grads[layer] * maps[layer], 0).mean(axis=0)
        grad_roll = (np.eye(n) + rel) @ grad_roll
    row = n - 1 if last_row else 0
    probs = torch.softmax(out.logits[0].detach(), -1).numpy()
    return maps, roll[row], grad_roll[row], probs, cls
