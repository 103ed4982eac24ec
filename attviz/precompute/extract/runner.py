"""Running a sequence classifier over batches: probabilities and self-attention diagonals."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import UserError
from . import diagonal
from .fingerprint import model_fingerprint
from .streams import in_streams, resolve_streams

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device}: not a device torch knows; use auto, cpu, cuda, "
                        "cuda:1, ...") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: this machine has no CUDA device (use --device cpu)")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}")
    if dtype != "float32" and device.type != "cuda":
        raise UserError(f"--dtype {dtype} is for GPUs; on {device.type} use float32")
    return DTYPES[dtype]


def load_classifier(name: str, device: torch.device, dtype: torch.dtype = torch.float32):
    """Model (eval mode, on ``device``) and fast tokenizer from a local path or a hub id."""
    tokenizer, config = load_tokenizer(name)
    return load_model(name, device, dtype, config), tokenizer


def load_tokenizer(name: str):
    """(fast tokenizer, model config) of a local path or a hub id: what a run needs before
    the weights (the labels, the window's limits)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    _quiet()
    with _named(name):
        tokenizer = AutoTokenizer.from_pretrained(name)
        config = AutoConfig.from_pretrained(name)
        # the classes AutoModelForSequenceClassification knows (registered ones included);
        # where that cannot be told, loading the weights will say
        known = getattr(AutoModelForSequenceClassification, "_model_mapping", None)
        if known is not None and type(config) not in known:
            raise ValueError(f"transformers has no sequence classifier for "
                             f"{type(config).__name__} (model type {config.model_type!r})")
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"--model {name}: its tokenizer has no fast (tokenizer.json) version; "
                         "attviz needs the character offsets only fast tokenizers give")
    return tokenizer, config


def load_model(name: str, device: torch.device, dtype: torch.dtype = torch.float32,
               config=None):
    """The sequence classifier at ``name``, in eval mode, on ``device`` (``config``: its
    config as :func:`load_tokenizer` read it, so that labels and model agree)."""
    from transformers import AutoModelForSequenceClassification

    _quiet()
    with _named(name):
        model = AutoModelForSequenceClassification.from_pretrained(
            name, dtype=dtype, **({"config": config} if config is not None else {}))
    return model.to(device).eval()


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@contextmanager
def _named(name: str) -> Iterator[None]:
    """transformers' words for "no such model" or "not one" as one line naming ``name``."""
    try:
        yield
    except (OSError, ValueError) as e:
        where = "folder" if Path(name).exists() else "model id"
        raise UserError(f"--model {name}: cannot load a sequence classifier from this {where} "
                         f"({str(e).splitlines()[0]})") from None


@dataclass
class BatchResult:
    """probabilities: [batch, classes] float32; attention: per instance [tokens, layers, heads];
    stats: statistic name -> [batch, layers, heads] float32, the means over each instance's
    query tokens of A[l, h, i, 0] (first_mass), A[l, h, i, n - 1] (last_mass) and, when asked,
    the row entropy / log(n) (entropy) and the head importance dL/dg (importance)."""

    probabilities: np.ndarray
    attention: list[np.ndarray]
    stats: dict[str, np.ndarray] = field(default_factory=dict)


STAT_OF = {"first": "first_mass", "last": "last_mass", "entropy": "entropy"}


class Extractor:
    """Runs ``model`` over batches of token ids; chooses the fused or the eager path.

    ``attention``: ``auto`` (fused where the model routes attention through transformers'
    attention interface, else eager), ``fused`` (fail if it cannot) or ``eager``.
    ``importance``: also the gradient of each instance's loss to a gate on every head
    (:mod:`.gates`; one backward pass per batch); where the heads cannot be gated,
    ``importance`` stays False and ``gate_problem`` says why. ``streams``: batches that
    :meth:`map` runs at once (:mod:`.streams`; ``auto``: 2 on a CPU, 1 on a GPU).
    ``first_row``: where the classifier reads the first token's row only (checked on a
    probe batch), the last layer's work after its attention runs on that row alone
    (:mod:`.readout`); ``first_row_only`` says whether it does.
    """

    def __init__(self, model, pad_token_id: int | None, attention: str = "auto",
                 entropy: bool = False, importance: bool = False,
                 streams: str | int = "auto", first_row: bool = True) -> None:
        self.model = model
        self.first_row_only = False  # set below once checked on a probe batch
        self.entropy = entropy
        self.importance = False  # set below once the heads are known to be gateable
        self.gate_problem = ""  # why importance was asked for but cannot be computed
        self.device = next(model.parameters()).device
        self.streams = resolve_streams(streams, self.device)
        self.pad_id = int(pad_token_id) if pad_token_id is not None else 0
        self.path = "eager"
        self.why = ""
        self.stats = diagonal.DiagonalStats()  # layer calls of this extractor: fused / eager
        if attention not in ("auto", "fused", "eager"):
            raise UserError(f"--attention {attention}: choose auto, fused or eager")
        if attention != "eager":
            ok, why = self._try_fused()
            if ok:
                self.path = "fused"
            elif attention == "fused":
                raise UserError(f"the fused attention path does not fit this model: {why}")
            else:
                self.why = why
        if self.path == "eager":
            self._set("eager")
            if self.model.config._attn_implementation != "eager":
                raise UserError("the model can neither use attviz's attention function nor eager "
                                 "attention, so its attention weights cannot be read")
        probe = self._forward([np.array([self.pad_id] * 4, dtype=np.int64)], probe=True)
        self.num_layers, self.num_heads = probe.attention[0].shape[1:]
        if importance:
            self._enable_importance()
        self.first_row_only = first_row and self._try_first_row()

    def _try_first_row(self) -> bool:
        """Wrap the last layer's work after its attention (:mod:`.readout`) where the model's
        structure has it, and keep it if a probe batch of two lengths and varied tokens gets
        the same probabilities with it as without."""
        from . import readout

        sites = readout.install(self.model)
        if not sites:
            return False
        vocab = int(getattr(self.model.config, "vocab_size", 0) or 0) or self.pad_id + 1
        ids = [((np.arange(n) * 7 + 3) % vocab).astype(np.int64) for n in (7, 4)]

        def run(first_row_only: bool) -> torch.Tensor:
            self.first_row_only = first_row_only
            return torch.as_tensor(self._forward(ids, probe=True).probabilities)

        try:
            if readout.fits(run):
                return True
        finally:
            self.first_row_only = False
        readout.remove(sites)
        return False

    def _enable_importance(self) -> None:
        """Gate every head (or say in ``gate_problem`` why the model's heads cannot be)."""
        from . import gates

        if self.path == "eager":  # the model's own eager attention, through the gate wrapper
            gates.register()
            if not gates.set_attention(self.model, gates.EAGER):
                self._set("eager")
                self.gate_problem = ("the model does not route attention through transformers' "
                                     "attention interface, so its heads cannot be gated")
                return
        for p in self.model.parameters():  # gradients for the gates only
            p.requires_grad_(False)
        try:
            self.importance = True
            self._forward([np.array([self.pad_id] * 4, dtype=np.int64)], probe=True)
        except gates.CannotGate as e:
            self.importance = False
            self.gate_problem = f"its heads cannot be gated ({e})"

    def _set(self, name: str) -> None:
        logger = logging.getLogger("transformers")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            self.model.set_attn_implementation(name)
        except Exception:
            pass
        finally:
            logger.setLevel(level)

    def _try_fused(self) -> tuple[bool, str]:
        name = diagonal.register()
        self._set(name)
        if self.model.config._attn_implementation != name:
            return False, ("the model does not route attention through transformers' "
                           "attention interface")
        self.stats.reset()
        try:
            res = self._forward([np.array([self.pad_id] * 4, dtype=np.int64)], probe=True)
        except Exception as e:  # pragma: no cover - model specific
            return False, f"the model failed with attviz's attention function ({e})"
        if self.stats.fused + self.stats.eager == 0 or not res.attention:
            return False, "the model did not call the registered attention function"
        if self.stats.eager and not self.stats.fused:
            return False, self.stats.reason
        return True, ""

    @property
    def description(self) -> str:
        """Which path ran, in words (also stored as provenance)."""
        if self.path == "fused":
            kernel = ("flash attention for CPU" if self.device.type == "cpu"
                      else "memory-efficient attention")
            text = f"fused: {kernel} with log-sum-exp diagonal"
            if self.stats.eager:
                text += (f" ({self.stats.eager} of {self.stats.eager + self.stats.fused}"
                         f" layer calls eager: {self.stats.reason})")
        else:
            text = "eager: full attention maps, diagonal taken" + (f" ({self.why})"
                                                                   if self.why else "")
        if self.first_row_only:
            text += "; the last layer after its attention on the first row only"
        return text

    def _forward(self, input_ids: list[np.ndarray], probe: bool = False,
                 labels: np.ndarray | None = None) -> BatchResult:
        lengths = [len(x) for x in input_ids]
        t = max(lengths)
        ids = np.full((len(input_ids), t), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(input_ids), t), dtype=np.int64)
        for i, x in enumerate(input_ids):
            ids[i, : len(x)] = x
            mask[i, : len(x)] = 1
        inputs = {"input_ids": torch.from_numpy(ids).to(self.device),
                  "attention_mask": torch.from_numpy(mask).to(self.device),
                  "output_attentions": True}
        with diagonal.recording_into(self.stats, torch.tensor(lengths, device=self.device),
                                     self.entropy, self.first_row_only):
            if self.importance:
                logits, att, importance = self._with_gradient(inputs, labels)
            else:
                with torch.inference_mode():
                    out = self.model(**inputs)
                logits, att, importance = out.logits, out.attentions, None
        with torch.inference_mode():
            return self._result(logits, att, lengths, importance)

    def _with_gradient(self, inputs: dict, labels: np.ndarray | None):
        """(logits, attentions, importance [batch, layers, heads]): one forward pass with
        every head gated (g = 1) and one backward pass of the summed cross-entropy of each
        instance's label (its gold label, else its prediction) to the gates. Instances are
        independent in a batch, so each one's gates get the gradient of its own loss."""
        from . import gates

        b = inputs["input_ids"].shape[0]
        values = torch.ones((b, self.num_layers, self.num_heads), device=self.device,
                            requires_grad=True)
        with torch.enable_grad(), gates.gating(values) as g:
            out = self.model(**inputs)
            gates.check_calls(g, self.num_layers)
            logits = out.logits.float()
            target = logits.detach().argmax(-1)
            if labels is not None:
                gold = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=self.device)
                target = torch.where(gold >= 0, gold, target)
            loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
            (grad,) = torch.autograd.grad(loss, values)
        att = tuple(a.detach() for a in out.attentions)
        return logits.detach(), att, grad.float().cpu().numpy()

    def _result(self, logits, att, lengths: list[int], importance) -> BatchResult:
        if not att:
            raise RuntimeError("the model returned no attentions")
        if self.model.config._attn_implementation != diagonal.NAME:
            # eager maps [batch, heads, tokens, tokens]
            lens = torch.tensor(lengths, device=att[0].device)
            att = [diagonal.map_quantities(a, lens, self.entropy) for a in att]
        heads = {a.shape[1] for a in att}
        if len(heads) != 1:
            raise UserError(f"layers have different numbers of heads {sorted(heads)}; "
                            "not supported")
        # [batch, layers, heads, tokens, quantities] -> [batch, tokens, layers, heads, q]
        q = torch.stack([a.float() for a in att], dim=1).permute(0, 3, 1, 2, 4).cpu().numpy()
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        stats = {}
        for j, name in enumerate(diagonal.QUANTITIES[1 : q.shape[-1]], start=1):
            stats[STAT_OF[name]] = np.stack([q[i, :n, :, :, j].mean(axis=0)
                                             for i, n in enumerate(lengths)])
        if importance is not None:
            stats["importance"] = importance
        return BatchResult(probs, [q[i, :n, :, :, 0] for i, n in enumerate(lengths)], stats)

    def __call__(self, input_ids: list[np.ndarray], labels: np.ndarray | None = None
                 ) -> BatchResult:
        """Probabilities and per-instance diagonals for one batch (padded to its longest);
        with importance on, also dL/dg per head, L the cross-entropy of ``labels``
        ([batch] class indices, -1 or None: the predicted class)."""
        return self._forward(input_ids, labels=labels)

    def map(self, batches: Iterable[tuple[list[np.ndarray], np.ndarray | None]]
            ) -> Iterator[BatchResult]:
        """``self(input_ids, labels)`` of every (input_ids, labels) batch, in order,
        ``self.streams`` batches at once."""
        return in_streams(lambda b: self._forward(b[0], labels=b[1]), batches, self.streams)


def model_provenance(name: str, model, tokenizer, fingerprint: dict | None = None) -> dict:
    """What the store records of the model; ``fingerprint``: :func:`model_fingerprint` of
    ``name`` when the caller made it already (it hashes the weights)."""
    import transformers

    prov = {
        "model": str(name),
        "model_type": model.config.model_type,
        "model_class": type(model).__name__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
    }
    prov.update(model_fingerprint(name) if fingerprint is None else fingerprint)
    return prov


__all__ = ["Extractor", "load_classifier", "load_model", "load_tokenizer", "resolve_device",
           "resolve_dtype", "model_provenance",
           "BatchResult"]
