"""`attviz ablate`: instances of a store re-run with heads switched off, what changed as a
CSV (needs the `model` extra; torch is loaded when it runs)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import UserError
from .command import Command, no_progress, store_argument

ENV_MODEL_ROOT = "ATTVIZ_MODEL_ROOT"
CSV_COLUMNS = ("instance", "document", "segment", "gold", "stored_prediction",
               "stored_probability", "new_prediction", "new_probability", "changed")


def heads_of(args: argparse.Namespace, num_layers: int, num_heads: int) -> list[tuple[int, int]]:
    """The heads ``--heads`` and ``--layer-off`` name, sorted, each once."""
    from ..explore.ablation_data import parse_heads

    text = ",".join(args.heads or [])
    try:
        heads = set(parse_heads(text, num_layers, num_heads))
    except ValueError as e:
        raise UserError(f"--heads {text}: {e}") from None
    for layer in args.layer_off or []:
        if not 0 <= layer < num_layers:
            raise UserError(f"--layer-off {layer}: the model has layers 0-{num_layers - 1}")
        heads |= {(layer, h) for h in range(num_heads)}
    if not heads:
        raise UserError("name the heads to switch off: --heads 3.7,5.1 and/or --layer-off L")
    return sorted(heads)


def changes(store, instances, probabilities):
    """The CSV's rows as a DataFrame (columns CSV_COLUMNS)."""
    import numpy as np
    import pandas as pd

    cols, names = store.columns, store.label_names
    label, stored = cols.label[instances], cols.prediction[instances]
    new = probabilities.argmax(axis=1)
    docs = np.unique(cols.document[instances])
    ids = dict(zip(docs.tolist(), store.document_ids(docs)))
    return pd.DataFrame({
        "instance": instances,
        "document": [ids[d] for d in cols.document[instances].tolist()],
        "segment": cols.segment[instances],
        "gold": [names[g] if g >= 0 else "" for g in label.tolist()],
        "stored_prediction": [names[p] for p in stored.tolist()],
        "stored_probability": cols.probabilities[instances, stored],
        "new_prediction": [names[p] for p in new.tolist()],
        "new_probability": probabilities[np.arange(len(new)), new],
        "changed": new != stored,
    }, columns=list(CSV_COLUMNS))


def ablate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..interop.attviz_json import select
    from ..relations.store_ablation import ablate_instances, store_model
    from ..store import open_store

    with open_store(args.store) as store:
        meta = store.meta
        heads = heads_of(args, meta.num_layers, meta.num_heads)
        idx = select(store, args.misclassified_only, args.gold, args.predicted, args.limit)
        if args.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        root = args.model_root or os.environ.get(ENV_MODEL_ROOT) or None
        model = store_model(store, args.model, root, args.device)
        print(f"attviz: {len(idx):,} instance(s) with {len(heads)} head(s) off "
              f"({', '.join(f'{a}.{b}' for a, b in heads)}) on {args.device}",
              file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        with tqdm(total=len(idx), unit="inst", desc="ablate", disable=args.no_progress,
                  mininterval=0.5 if sys.stderr.isatty() else 10, dynamic_ncols=True) as bar:
            probs = ablate_instances(store, model, idx, heads, args.batch_size, bar.update)
        seconds = time.perf_counter() - t0
        table = changes(store, idx, probs)
        known = store.columns.label[idx] >= 0
    table.to_csv(args.out, index=False)
    changed = int(table["changed"].sum())
    acc = ""
    if known.any():
        gold = store.columns.label[idx][known]
        before = float((store.columns.prediction[idx][known] == gold).mean())
        after = float((probs.argmax(axis=1)[known] == gold).mean())
        acc = f"; accuracy {before:.4f} -> {after:.4f}"
    rate = len(idx) / seconds if seconds > 0 else 0.0
    print(f"wrote {args.out}: {len(idx):,} instances, {changed:,} prediction(s) changed{acc} "
          f"({seconds:.1f} s, {rate:.1f} instances/s)")
    return 0


def _arguments(p: argparse.ArgumentParser) -> None:
    store_argument(p)
    p.add_argument("--heads", metavar="L.H,...", action="append",
                   help="heads to switch off, layer.head, e.g. 3.7,5.1 (layers and heads "
                   "counted from 0; repeatable)")
    p.add_argument("--layer-off", type=int, action="append", metavar="L",
                   help="switch off every head of layer L (repeatable)")
    p.add_argument("--out", required=True, metavar="CHANGES.csv",
                   help="CSV to write: " + ", ".join(CSV_COLUMNS))
    p.add_argument("--misclassified-only", action="store_true",
                   help="only instances whose stored prediction differs from their gold label")
    p.add_argument("--gold", metavar="L", help="only instances of gold label L (a name)")
    p.add_argument("--predicted", metavar="L", help="only instances predicted as L (a name)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N instances, the first in store order")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto (default: cpu)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="instances per forward pass, length-sorted (default: 16)")
    p.add_argument("--model", help="model folder or hub id (default: the one the store names, "
                   "looked for as named, beside the store and under --model-root)")
    p.add_argument("--model-root", help="folder under which the store's model is looked for "
                   "when it moved (default: $ATTVIZ_MODEL_ROOT)")
    no_progress(p)


ABLATE = Command(
    "ablate", "re-run a store's instances with attention heads switched off and write which "
    "predictions change", _arguments, ablate, needs_model=True,
    examples="""examples:
  attviz ablate bbc.h5 --heads 3.7,5.1 --out changes.csv
  attviz ablate bbc.h5 --layer-off 5 --misclassified-only --out layer5-errors.csv
  attviz ablate bbc.h5 --heads 4.0 --gold tech --predicted business --limit 500 \\
      --out tech-as-business.csv --device cuda --batch-size 128

A head is switched off by multiplying its slice of the attention context by 0 before its
layer's output projection (Michel et al. 2019). The model is the one that computed the store
(checked by the SHA-256 of its weights), as the explorer finds it. Under SLURM:
  sbatch --cpus-per-task 8 --mem 16G --time 2:00:00 --wrap \\
      "attviz ablate corpus.h5 --heads 3.7 --out changes.csv --no-progress"
""")
