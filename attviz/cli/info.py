"""What `attviz info` reports about a store: sizes, labels, accuracy, confusion, provenance."""

from __future__ import annotations

import numpy as np

from ..store import BaseStore


def confusion_matrix(label: np.ndarray, prediction: np.ndarray, n_classes: int) -> np.ndarray:
    """[classes (gold), classes (predicted)] counts over instances with a known gold label."""
    has = label >= 0
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (label[has].astype(np.int64), prediction[has].astype(np.int64)), 1)
    return m


def document_accuracy(store: BaseStore) -> float | None:
    """Accuracy of documents, each predicted by the mean of its segments' probabilities."""
    c = store.columns
    if not (c.label >= 0).any() or store.n_instances == 0:
        return None
    n_docs = int(c.document.max()) + 1
    sums = np.zeros((n_docs, c.probabilities.shape[1]), dtype=np.float64)
    np.add.at(sums, c.document, c.probabilities)
    gold = np.full(n_docs, -1, dtype=np.int64)
    gold[c.document] = c.label  # all segments of a document share its label
    present = np.bincount(c.document, minlength=n_docs) > 0
    keep = present & (gold >= 0)
    return float((sums[keep].argmax(axis=1) == gold[keep]).mean())


def summary(store: BaseStore) -> dict:
    c = store.columns
    names = store.label_names
    has = c.label >= 0
    cm = confusion_matrix(c.label, c.prediction, len(names))
    counts = c.token_count
    return {
        "path": str(store.path),
        "format_version": store.meta.format_version,
        "instances": store.n_instances,
        "documents": store.n_documents,
        "tokens": store.n_tokens,
        "tokens_per_instance": {
            "mean": float(counts.mean()) if len(counts) else 0.0,
            "max": int(counts.max()) if len(counts) else 0,
        },
        "layers": store.meta.num_layers,
        "heads": store.meta.num_heads,
        "stored_layers": store.meta.layers,
        "precision": store.precision,
        "labels": names,
        "labelled_instances": int(has.sum()),
        "gold_counts": {n: int((c.label == i).sum()) for i, n in enumerate(names)},
        "predicted_counts": {n: int((c.prediction == i).sum()) for i, n in enumerate(names)},
        "accuracy": float(c.correct[has].mean()) if has.any() else None,
        "misclassified": int((has & ~c.correct).sum()),
        "document_accuracy": document_accuracy(store),
        "confusion_matrix": cm.tolist(),
        "provenance": store.meta.provenance,
    }


def _layers(info: dict) -> str:
    stored = info["stored_layers"]
    if len(stored) == info["layers"]:
        return "every layer"
    return f"layer{'s' if len(stored) > 1 else ''} {', '.join(map(str, stored))}"


def render(info: dict) -> str:
    """The summary as text for a terminal."""
    lines = [
        f"store        {info['path']} (format {info['format_version']})",
        f"instances    {info['instances']:,} from {info['documents']:,} documents, "
        f"{info['tokens']:,} tokens (mean {info['tokens_per_instance']['mean']:.1f}, "
        f"max {info['tokens_per_instance']['max']} per instance)",
        f"model        {info['layers']} layers x {info['heads']} heads, "
        f"{len(info['labels'])} classes",
        f"stored       diagonals of {_layers(info)}, "
        + ("float16" if info["precision"] == 16 else "8-bit logarithmic code"),
    ]
    if info["accuracy"] is not None:
        lines.append(
            f"accuracy     {info['accuracy']:.4f} over {info['labelled_instances']:,} labelled "
            f"instances ({info['misclassified']:,} misclassified)"
        )
        if info["document_accuracy"] is not None:
            lines.append(f"document acc {info['document_accuracy']:.4f} "
                         "(mean of segment probabilities)")
    else:
        lines.append("accuracy     - (no gold labels)")
    names = info["labels"]
    width = max([len(n) for n in names] + [4])
    col = max([len(n) for n in names] + [7])
    lines.append("")
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    lines.append(" " * (width + 2) + " ".join(f"{n:>{col}}" for n in names) + f" {'gold':>{col}}")
    for n, row in zip(names, info["confusion_matrix"]):
        lines.append(f"  {n:<{width}}" + " ".join(f"{v:>{col},}" for v in row)
                     + f" {info['gold_counts'][n]:>{col},}")
    lines.append(f"  {'pred':<{width}}" + " ".join(f"{info['predicted_counts'][n]:>{col},}"
                                                   for n in names))
    lines.append("")
    lines.append("provenance")
    for k, v in sorted(info["provenance"].items()):
        if k == "precompute_config":
            continue
        lines.append(f"  {k:<22} {v}")
    return "\n".join(lines)
