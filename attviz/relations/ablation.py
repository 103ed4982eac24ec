"""Switching heads off: a store's model re-run with the gates of some heads at 0 (Michel et
al. 2019), the class probabilities of each instance (imports torch).

A gate multiplies head h's slice of layer l's attention context before the output
projection (:mod:`attviz.precompute.extract.gates`); a gate of 0 switches the head off.
Instances run in batches of similar length (padded, with an attention mask), through
transformers' SDPA attention behind the gate (the model's own eager attention where a
layer needs it: soft-capping, sinks). :class:`Ablation` runs one batch per :meth:`step`, so
the explorer's worker can interleave other requests and stop between batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from ..precompute.extract import gates

Heads = Sequence[tuple[int, int]]


def gate_values(num_layers: int, num_heads: int, heads: Heads) -> torch.Tensor:
    """[1, layers, heads] gates: 0 for ``heads`` ((layer, head) pairs), 1 elsewhere."""
    g = torch.ones((1, num_layers, num_heads))
    for layer, head in heads:
        if not (0 <= layer < num_layers and 0 <= head < num_heads):
            raise ValueError(f"no head {layer}.{head}: the model has {num_layers} layers x "
                             f"{num_heads} heads")
        g[0, layer, head] = 0.0
    return g


def model_shape(model) -> tuple[int, int]:
    """(layers, heads per layer) of a transformers classifier."""
    cfg = model.config
    layers = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers", None) \
        or getattr(cfg, "n_layer", None)
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_heads", None) \
        or getattr(cfg, "n_head", None)
    if not layers or not heads:
        raise gates.CannotGate("the model's config names no number of layers or heads")
    return int(layers), int(heads)


class Ablation:
    """``model`` on ``token_ids`` (a list of [tokens] arrays) with ``heads`` switched off.

    ``probabilities``: [instances, classes] float32, filled batch by batch (NaN until run);
    ``done`` / ``total``: instances run and to run; ``seconds``: time spent running.
    """

    def __init__(self, model, token_ids: list[np.ndarray], heads: Heads,
                 batch_size: int = 16) -> None:
        self.model = model
        self.ids = [np.asarray(x, dtype=np.int64) for x in token_ids]
        layers, n_heads = model_shape(model)
        self.gates = gate_values(layers, n_heads, heads)
        self.layers = layers
        self.device = next(model.parameters()).device
        self.pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
        order = np.argsort([len(x) for x in self.ids], kind="stable")
        self.batches = [order[i : i + max(1, batch_size)]
                        for i in range(0, len(order), max(1, batch_size))]
        self.next = 0
        n_classes = int(getattr(model.config, "num_labels", 0) or len(model.config.id2label))
        self.probabilities = np.full((len(self.ids), n_classes), np.nan, np.float32)
        self.done, self.total = 0, len(self.ids)
        self.seconds = 0.0

    @property
    def finished(self) -> bool:
        return self.next >= len(self.batches)

    def step(self) -> int:
        """Run the next batch; returns how many instances it held (0 when finished)."""
        if self.finished:
            return 0
        t0 = time.perf_counter()
        batch = self.batches[self.next]
        self.probabilities[batch] = run_batch(self.model, [self.ids[i] for i in batch],
                                              self.gates, self.pad, self.layers)
        self.next += 1
        self.done += len(batch)
        self.seconds += time.perf_counter() - t0
        return len(batch)

    def run(self, progress=None) -> np.ndarray:
        """Every remaining batch; ``progress(n)`` after each. Returns the probabilities."""
        while not self.finished:
            n = self.step()
            if progress is not None:
                progress(n)
        return self.probabilities


def run_batch(model, ids: list[np.ndarray], values: torch.Tensor, pad: int,
              layers: int) -> np.ndarray:
    """[batch, classes] probabilities of one padded batch with the gates ``values``."""
    t = max(len(x) for x in ids)
    batch = np.full((len(ids), t), pad, dtype=np.int64)
    mask = np.zeros((len(ids), t), dtype=np.int64)
    for i, x in enumerate(ids):
        batch[i, : len(x)] = x
        mask[i, : len(x)] = 1
    device = next(model.parameters()).device
    inputs = {"input_ids": torch.from_numpy(batch).to(device),
              "attention_mask": torch.from_numpy(mask).to(device)}
    with gated(model):
        try:
            logits = _forward(model, inputs, values, layers)
        except gates.NeedsEager:  # remembered: the next batches go eager at once
            model._attviz_gate_eager = True
            gates.set_attention(model, gates.EAGER)
            logits = _forward(model, inputs, values, layers)
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def _forward(model, inputs: dict, values: torch.Tensor, layers: int) -> torch.Tensor:
    with torch.inference_mode(), gates.gating(values.to(inputs["input_ids"].device)) as g:
        logits = model(**inputs).logits
    gates.check_calls(g, layers)
    return logits


class gated:  # noqa: N801 - used as a context manager, like torch's no_grad
    """The model with the gated SDPA attention inside the block, its own after; raises
    :class:`~attviz.precompute.extract.gates.CannotGate` when it cannot use it."""

    def __init__(self, model) -> None:
        self.model = model

    def __enter__(self):
        self.before = self.model.config._attn_implementation
        gates.register()
        if self.before in (gates.SDPA, gates.EAGER):
            return self.model
        name = gates.EAGER if getattr(self.model, "_attviz_gate_eager", False) else gates.SDPA
        # a model that refuses SDPA (transformers knows it needs its own attention) runs its
        # eager attention behind the gate
        if not gates.set_attention(self.model, name) and not gates.set_attention(
                self.model, gates.EAGER):
            raise gates.CannotGate("the model does not route attention through transformers' "
                                   "attention interface, so its heads cannot be switched off")
        return self.model

    def __exit__(self, *exc) -> None:
        gates.set_attention(self.model, self.before)


def ablate(model, token_ids: list[np.ndarray], heads: Heads, batch_size: int = 16,
           progress=None) -> np.ndarray:
    """[instances, classes] probabilities of ``model`` on ``token_ids`` with ``heads``
    ((layer, head) pairs) switched off."""
    return Ablation(model, token_ids, heads, batch_size).run(progress)
