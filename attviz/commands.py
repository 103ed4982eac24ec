"""What each `attviz` subcommand does with its parsed arguments (see attviz/cli.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import string
from pathlib import Path

from .errors import UserError


def _config(cls, args):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def precompute(args) -> int:
    from .precompute import PrecomputeConfig, run

    res = run(_config(PrecomputeConfig, args), progress=not args.no_progress)
    if not res.already_complete:
        rate = res.instances / res.seconds if res.seconds else 0.0
        acc = "-" if res.accuracy is None else f"{res.accuracy:.4f}"
        reused = (f", {res.reused_blocks} block(s) reused from an earlier run"
                  if res.reused_blocks else "")
        print(f"wrote {res.out}: {res.instances:,} instances from {res.documents:,} documents in "
              f"{res.seconds:.1f} s ({rate:.1f} instances/s{reused}); accuracy {acc}; "
              f"attention path: {res.attention_path}")
    return 0


def info(args) -> int:
    from .info import render, summary
    from .store import open_store

    with open_store(args.store) as store:
        info = summary(store)
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print(render(info))
    return 0


def finetune(args) -> int:
    from .finetune import FinetuneConfig, run

    res = run(_config(FinetuneConfig, args), progress=not args.no_progress)
    print(f"model: {res.out}  held-out corpus: {res.heldout}")
    print(f"held-out segment accuracy {res.segment_accuracy:.4f} "
          f"({res.heldout_segments} segments), "
          f"document accuracy {res.document_accuracy:.4f} ({res.heldout_documents} documents)"
          + ("  [reused saved model]" if res.reused else ""))
    return 0


def verify(args) -> int:
    from .store import open_store
    from .verify import verify

    with open_store(args.store) as store:
        res = verify(store, args.model, args.sample, args.seed, progress=True)
    ok = res["max_abs_attention_diff"] <= args.tolerance and res["prediction_mismatches"] == 0
    print(f"checked {res['checked']:,} instances against {res['model']} (eager attention): "
          f"max |diagonal difference| {res['max_abs_attention_diff']:.2e}, max |probability "
          f"difference| {res['max_abs_probability_diff']:.2e}, {res['prediction_mismatches']} "
          f"prediction mismatch(es): {'OK' if ok else 'FAILED'} (tolerance {args.tolerance:g})")
    return 0 if ok else 1


def merge(args) -> int:
    from .store import merge, open_store

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    merge(args.sources, out, provenance={"merged_from": [os.fspath(s) for s in args.sources],
                                         "shard": -1})
    with open_store(out) as s:
        print(f"wrote {out}: {s.n_instances:,} instances from {s.n_documents:,} documents")
    return 0


def index(args) -> int:
    from tqdm.auto import tqdm

    from .store import index, open_store

    with open_store(args.store) as s:
        total = s.n_instances
    with tqdm(total=total, unit="inst", desc="index", disable=args.no_progress) as bar:
        files = index(args.store, progress=bar.update)
    with open_store(args.store) as s:
        stats = ", ".join(s.head_stat_names)
        print(f"indexed {len(files)} store file(s) of {args.store}: {s.n_instances:,} instances; "
              f"statistics {stats}; profiles of {len(s.profiles().key)} groups; token index")
    return 0


def synth(args) -> int:
    from .synth import synthesize

    path = synthesize(args.out, args.instances, layers=args.layers, heads=args.heads,
                      classes=args.classes, max_tokens=args.tokens, seed=args.seed,
                      overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


def export_attviz(args) -> int:
    from .attviz_json import export, select
    from .store import open_store

    with open_store(args.store) as store:
        idx = select(store, args.misclassified_only, args.gold, args.predicted, args.limit)
        n = export(store, args.out, idx)
    print(f"wrote {args.out}: {n:,} instance(s) as AttViz documents")
    return 0


def import_attviz(args) -> int:
    from .attviz_json import import_file

    n = import_file(args.file, args.out)
    print(f"wrote {args.out}: {n:,} instance(s) from {args.file}")
    return 0


def shard_name(args) -> int:
    from .store import shard_name

    count = None if args.count == "*" else _count(args.count)
    if args.index == "*":
        print(shard_pattern(count))
    elif args.index == "all":
        if count is None:
            raise UserError("shard-name all N needs a number of shards N, not '*'")
        print("\n".join(shard_name(i, count) for i in range(count)))
    else:
        index = _number("shard index I", args.index)
        if count is not None and not 0 <= index < count:
            raise UserError(f"shard index {index} is not in 0..{count - 1}")
        print(shard_name(index, count) if count is not None else shard_pattern(None, index))
    return 0


def shard_pattern(count: int | None, index: int | None = None) -> str:
    """A shell pattern of shard store names: ``*`` where ``count`` or ``index`` is None."""
    from .store.shards import SHARD_NAME

    values = {"index": index, "count": count}
    out = []
    for literal, field, spec, _ in string.Formatter().parse(SHARD_NAME):
        out.append(literal)
        if field is not None:
            out.append("*" if values[field] is None else format(values[field], spec))
    return "".join(out)


def _number(what: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"{what} must be a whole number, not {text!r}") from None
    if value < 0:
        raise UserError(f"{what} must not be negative ({value})")
    return value


def _count(text: str) -> int:
    value = _number("number of shards N", text)
    if value < 1:
        raise UserError("number of shards N must be at least 1")
    return value


def users(args) -> int:
    from .lab.commands import users

    return users(args)


def serve(args) -> int:
    from .lab.serve import serve

    return serve(args)
