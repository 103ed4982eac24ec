"""Head gates computed independently of attviz: a forward pre-hook on each layer's output
projection multiplies head h's slice of its input (the attention context) by g[l, h], in
the eager model; and a head switched off by zeroing its rows of the value projection."""

from __future__ import annotations

import numpy as np

_LAYERS = {  # the classifier's layers, by model type
    "bert": lambda m: m.bert.encoder.layer,
    "roberta": lambda m: m.roberta.encoder.layer,
    "xlm-roberta": lambda m: m.roberta.encoder.layer,
    "electra": lambda m: m.electra.encoder.layer,
    "distilbert": lambda m: m.distilbert.transformer.layer,
    "gpt2": lambda m: m.transformer.h,
}
_OUTPUT = {
    "bert": lambda layer: layer.attention.output.dense,
    "roberta": lambda layer: layer.attention.output.dense,
    "xlm-roberta": lambda layer: layer.attention.output.dense,
    "electra": lambda layer: layer.attention.output.dense,
    "distilbert": lambda layer: layer.attention.out_lin,
    "gpt2": lambda layer: layer.attn.c_proj,
}
_VALUE = {
    "bert": lambda layer: layer.attention.self.value,
    "roberta": lambda layer: layer.attention.self.value,
}


def output_projections(model) -> list:
    """Each layer's output projection (input: [batch, tokens, heads * head_dim]); ALBERT's
    one shared layer appears once per use."""
    kind = model.config.model_type
    if kind in _OUTPUT:
        return [_OUTPUT[kind](layer) for layer in _LAYERS[kind](model)]
    if kind == "albert":
        shared = model.albert.encoder.albert_layer_groups[0].albert_layers[0].attention.dense
        return [shared] * model.config.num_hidden_layers
    if kind == "modernbert":
        return [layer.attn.Wo for layer in model.model.layers]
    return [layer.self_attn.o_proj for layer in model.model.layers]  # Llama and its kin


def gated_logits(model, token_ids, gates):
    """Logits [classes] of ``model`` (eager) on ``token_ids`` alone with each layer's output
    projection input scaled per head by ``gates`` ([layers, heads] tensor)."""
    import torch

    heads = gates.shape[1]
    hooks, uses = [], {}
    for layer, proj in enumerate(output_projections(model)):
        uses.setdefault(proj, []).append(layer)  # a shared module: its layers in call order
    for proj, layers in uses.items():
        def pre(module, args, layers=layers, calls=[0]):  # noqa: B006 - a counter per hook
            layer = layers[calls[0] % len(layers)]
            calls[0] += 1
            x = args[0]
            b, t, width = x.shape
            g = gates[layer].to(x.dtype).view(1, 1, heads, 1)
            return ((x.reshape(b, t, heads, width // heads) * g).reshape(b, t, width),)

        hooks.append(proj.register_forward_pre_hook(pre))
    try:
        ids = torch.as_tensor(np.asarray(token_ids, dtype=np.int64))[None]
        return model(input_ids=ids).logits[0]
    finally:
        for h in hooks:
            h.remove()


def gate_gradient(model, token_ids, label: int, num_layers: int, num_heads: int,
                  dtype=None) -> np.ndarray:
    """[layers, heads] dL/dg at g = 1, L the cross-entropy of ``label`` (-1: the predicted
    class), by autograd through the hooks."""
    import torch

    gates = torch.ones((num_layers, num_heads), dtype=dtype or torch.float32,
                       requires_grad=True)
    logits = gated_logits(model, token_ids, gates)
    target = int(logits.argmax()) if label < 0 else int(label)
    loss = torch.nn.functional.cross_entropy(logits[None].float(), torch.tensor([target]))
    (grad,) = torch.autograd.grad(loss, gates)
    return grad.double().numpy()


def zero_value_rows(model, layer: int, head: int) -> None:
    """Switch head ``head`` of ``layer`` off the other way: zero its rows of the value
    projection, weights and bias (its values, so its context, are then 0)."""
    import torch

    value = _VALUE[model.config.model_type](_LAYERS[model.config.model_type](model)[layer])
    d = value.out_features // model.config.num_attention_heads
    with torch.no_grad():
        value.weight[head * d : (head + 1) * d] = 0
        value.bias[head * d : (head + 1) * d] = 0
