"""Tiny random sequence classifiers of every model family precompute supports (2-3 layers,
4 heads, hidden 32): BERT-like encoders and causal decoders with grouped key/value heads,
sliding windows and soft-capping."""

from __future__ import annotations

_ENC = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, num_labels=3)
_DEC = dict(_ENC, num_key_value_heads=2, pad_token_id=0)


def build(family: str):
    """A tiny random classifier of ``family`` in eval mode (seeded by the caller)."""
    import transformers as T

    makers = {
        "bert": lambda: T.BertForSequenceClassification(T.BertConfig(**_ENC)),
        "roberta": lambda: T.RobertaForSequenceClassification(T.RobertaConfig(**_ENC)),
        "xlm-roberta": lambda: T.XLMRobertaForSequenceClassification(
            T.XLMRobertaConfig(**_ENC)),
        "distilbert": lambda: T.DistilBertForSequenceClassification(T.DistilBertConfig(
            vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=3)),
        "albert": lambda: T.AlbertForSequenceClassification(
            T.AlbertConfig(embedding_size=16, **_ENC)),
        "electra": lambda: T.ElectraForSequenceClassification(
            T.ElectraConfig(embedding_size=32, **_ENC)),
        "mpnet": lambda: T.MPNetForSequenceClassification(T.MPNetConfig(**_ENC)),
        "deberta-v2": lambda: T.DebertaV2ForSequenceClassification(T.DebertaV2Config(**_ENC)),
        # local attention in two of three layers
        "modernbert": lambda: T.ModernBertForSequenceClassification(T.ModernBertConfig(
            **dict(_ENC, num_hidden_layers=3), global_attn_every_n_layers=2,
            local_attention=8, pad_token_id=0, bos_token_id=2, eos_token_id=3,
            cls_token_id=2, sep_token_id=3)),
        "llama": lambda: T.LlamaForSequenceClassification(T.LlamaConfig(**_DEC)),
        "qwen2": lambda: T.Qwen2ForSequenceClassification(T.Qwen2Config(**_DEC)),
        "qwen3": lambda: T.Qwen3ForSequenceClassification(T.Qwen3Config(head_dim=8, **_DEC)),
        "mistral": lambda: T.MistralForSequenceClassification(
            T.MistralConfig(sliding_window=8, **_DEC)),
        "gemma2": lambda: T.Gemma2ForSequenceClassification(T.Gemma2Config(head_dim=8, **_DEC)),
        "phi3": lambda: T.Phi3ForSequenceClassification(T.Phi3Config(
            **_DEC, bos_token_id=1, eos_token_id=2)),
        "gpt2": lambda: T.GPT2ForSequenceClassification(T.GPT2Config(
            vocab_size=100, n_embd=32, n_layer=2, n_head=4, num_labels=3, pad_token_id=0,
            bos_token_id=1, eos_token_id=2)),
    }
    return makers[family]().eval()


FAMILIES = ("bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "mpnet",
            "deberta-v2", "modernbert", "llama", "qwen2", "qwen3", "mistral", "gemma2", "phi3",
            "gpt2")
# families whose layers do not call transformers' attention interface: no gates
UNGATEABLE = ("mpnet", "deberta-v2")
