"""Only the row the classifier reads: the last layer's work after its attention.

A BERT-like sequence classifier reads one row of its last layer's output, the first
token's: BERT's pooler, the classification heads of RoBERTa, XLM-R and ELECTRA,
DistilBERT's pre-classifier, DeBERTa-v2's pooler. attviz needs every query's attention in
every layer (the diagonal is what it stores), but after the last layer's attention only
the first row goes on. So, inside an extractor's forward pass, the last layer's attention
output projection (``attention.output``) and its feed-forward (``feed_forward_chunk``;
DistilBERT's ``ffn.ff_chunk``; DeBERTa-v2's layers have the projection only) run on that
row alone, and the other rows keep their input. Nothing attviz stores changes: the
attention comes before, and the classifier reads the same row. A bare forward loop of
MiniLM (6 layers) over 512 BBC passages runs 7-9% faster with it on a CPU
(docs/benchmarks.md §2); deeper models gain proportionally less.

Where it fits is found from the last layer's structure and then checked on a probe batch
(:func:`fits`): the probabilities with it must equal those without, else it is removed.
It acts only inside a forward pass recorded with ``first_row_only``
(:func:`.diagonal.recording_into`); the same model run anywhere else (a copy of it, the
explorer's ablations, fine-tuning) computes every row.
"""

from __future__ import annotations

from types import MethodType

import torch

from . import diagonal

# (path from the last layer to the module, its method, what the unread rows become)
_SITES = (((), "feed_forward_chunk", "input"),        # BERT-like layers: output + residual
          (("attention", "output"), "forward", "residual"),  # BERT-like: dense + residual
          (("ffn",), "ff_chunk", "zeros"))             # DistilBERT: before its residual


def _active() -> bool:
    rec = diagonal._current.get()
    return rec is not None and rec.first_row_only


def _first_row_input(self, x):
    full = type(self).feed_forward_chunk
    if not _active():
        return full(self, x)
    return torch.cat([full(self, x[:, :1]), x[:, 1:]], dim=1)


def _first_row_residual(self, hidden, residual):
    full = type(self).forward
    if not _active():
        return full(self, hidden, residual)
    return torch.cat([full(self, hidden[:, :1], residual[:, :1]), residual[:, 1:]], dim=1)


def _first_row_zeros(self, x):
    full = type(self).ff_chunk
    if not _active():
        return full(self, x)
    head = full(self, x[:, :1])
    return torch.cat([head, head.new_zeros((x.shape[0], x.shape[1] - 1, head.shape[2]))], 1)


_WRAPPERS = {"input": _first_row_input, "residual": _first_row_residual,
             "zeros": _first_row_zeros}


def last_layer(model) -> torch.nn.Module | None:
    """The last layer of a BERT-like encoder (``encoder.layer``) or of DistilBERT
    (``transformer.layer``); None for other structures (shared layers, decoders)."""
    base = getattr(model, "base_model", None)
    for outer in ("encoder", "transformer"):
        layers = getattr(getattr(base, outer, None), "layer", None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers):
            return layers[-1]
    return None


def install(model) -> list[tuple[torch.nn.Module, str]]:
    """Wrap the last layer's work after its attention (where its structure has it);
    returns the (module, method name) pairs wrapped, for :func:`remove`."""
    last = last_layer(model)
    done = []
    for path, name, rest in _SITES if last is not None else ():
        module = last
        for step in path:
            module = getattr(module, step, None)
        if isinstance(module, torch.nn.Module) and callable(getattr(type(module), name, None)):
            setattr(module, name, MethodType(_WRAPPERS[rest], module))
            done.append((module, name))
    return done


def remove(sites: list[tuple[torch.nn.Module, str]]) -> None:
    for module, name in sites:
        module.__dict__.pop(name, None)


def fits(run, atol: float = 1e-6) -> bool:
    """Whether ``run(first_row_only)`` (probabilities of a probe batch) gives the same
    probabilities either way; a failure with the first row only counts as no."""
    full = run(False)
    try:
        part = run(True)
    except Exception:  # a layer whose methods take other arguments than expected
        return False
    return part.shape == full.shape and bool(torch.allclose(
        torch.as_tensor(part), torch.as_tensor(full), atol=atol, rtol=1e-5))
