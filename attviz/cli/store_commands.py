"""The commands that read and write stores without a model: `info`, `merge`, `index`,
`synth`, `shard-name`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..errors import UserError
from .command import Command, no_progress, store_argument


def info(args: argparse.Namespace) -> int:
    from ..store import open_store
    from . import info as summaries

    with open_store(args.store) as store:
        found = summaries.summary(store)
    print(json.dumps(found, indent=1, default=str) if args.json else summaries.render(found))
    return 0


def _info_arguments(p: argparse.ArgumentParser) -> None:
    store_argument(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def merge(args: argparse.Namespace) -> int:
    from ..store import merge, open_store

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    merge(args.sources, out, provenance={"merged_from": [os.fspath(s) for s in args.sources],
                                         "shard": -1})
    with open_store(out) as s:
        print(f"wrote {out}: {s.n_instances:,} instances from {s.n_documents:,} documents")
    return 0


def _merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", help="store files or folders of shard stores, in order")
    p.add_argument("--out", required=True, help="merged store to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def index(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..store import index, open_store

    with open_store(args.store) as s:
        total = s.n_instances
    with tqdm(total=total, unit="inst", desc="index", disable=args.no_progress) as bar:
        files = index(args.store, progress=bar.update)
    with open_store(args.store) as s:
        stats = ", ".join(s.head_stat_names)
        print(f"indexed {len(files)} store file(s) of {args.store}: {s.n_instances:,} instances; "
              f"statistics {stats}; profiles of {len(s.profiles().key)} groups; token index")
    return 0


def _index_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("store", help="store file, or folder of shard stores (each file indexed)")
    no_progress(p)


def synth(args: argparse.Namespace) -> int:
    from ..precompute.layerspec import resolve
    from ..store import codec
    from ..store.synth import synthesize

    try:
        precision = codec.parse_precision(args.precision)
    except ValueError as e:
        raise UserError(str(e)) from None
    path = synthesize(args.out, args.instances, layers=args.layers, heads=args.heads,
                      classes=args.classes, max_tokens=args.tokens, seed=args.seed,
                      overwrite=args.overwrite, precision=precision,
                      stored_layers=resolve(args.stored_layers, args.layers))
    print(f"wrote {path}")
    return 0


def _synth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instances", type=int, required=True, help="number of instances")
    p.add_argument("--out", required=True, help="store file to write")
    p.add_argument("--layers", type=int, default=6, help="layers (default: 6)")
    p.add_argument("--heads", type=int, default=12, help="heads per layer (default: 12)")
    p.add_argument("--classes", type=int, default=5, help="classes (default: 5)")
    p.add_argument("--tokens", type=int, default=128, help="max tokens per instance (default: 128)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--stored-layers", metavar="SPEC",
                   help="store these layers' diagonals only, as precompute --layers")
    p.add_argument("--precision", type=int, default=16,
                   help="16 (float16) or 8 (log8 codes), as precompute --precision")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def shard_name(args: argparse.Namespace) -> int:
    from ..store.shards import shard_name, shard_pattern

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


def _shard_name_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("index", metavar="I", help="shard index (0-based); 'all' prints the names of "
                   "all N shards, one a line; '*' prints a shell pattern")
    p.add_argument("count", metavar="N", help="number of shards; '*' in a shell pattern")


INFO = Command(
    "info", "summarise a store: instances, documents, layers, heads, labels, accuracy, "
    "confusion matrix, provenance", _info_arguments, info,
    examples="""examples:
  attviz info bbc.h5
  attviz info bbc.h5 --json | jq .accuracy
  attviz info shards/          # a folder of shard stores, read as one store""")

MERGE = Command(
    "merge", "concatenate stores (e.g. the shard stores of a SLURM array) into one store",
    _merge_arguments, merge,
    examples="""examples:
  attviz merge bbc.h5.shards/ --out bbc.h5
  attviz merge part1.h5 part2.h5 --out all.h5""")

SYNTH = Command(
    "synth", "write a synthetic store with the real schema (for benchmarks)",
    _synth_arguments, synth,
    examples="""examples:
  attviz synth --instances 10000 --out synth-10k.h5
  attviz synth --instances 1000000 --layers 6 --heads 12 --out synth-1m.h5""")

INDEX = Command(
    "index", "add to a store what the corpus view needs and can be derived from its stored "
    "diagonals: statistics per instance and head, corpus profiles, token index",
    _index_arguments, index,
    examples="""examples:
  attviz index bbc.h5
  attviz index corpus.h5.shards/      # every shard store of the folder

Reads the store once and writes it anew under a temporary name beside it, then renames it
over the original: a run stopped at any moment leaves the store as it was (it needs free
disk space for one more copy). Statistics that need the model (first_mass, last_mass,
entropy, and head importance) come only from `attviz precompute`: index cannot derive
importance (dL/dg per head needs a backward pass through the model); precompute with
--importance for it. Importance a store already holds is kept.""")

SHARD_NAME = Command(
    "shard-name", "print the file name of shard I of N, as precompute/submit.sh names the "
    "shard stores of a SLURM array", _shard_name_arguments, shard_name,
    examples="""examples:
  attviz shard-name 3 8        # shard-00003-of-00008.h5
  attviz shard-name all 4      # the names of shards 0..3 of 4, one a line, in order
  attviz shard-name '*' 8      # shard-*-of-00008.h5: a shell pattern for the shards of 8
  attviz shard-name '*' '*'    # shard-*-of-*.h5: a shell pattern for any shard store
  attviz precompute ... --shards 8 --shard 3 --out "corpus.h5.shards/$(attviz shard-name 3 8)"

A folder of shard stores so named opens as one store (attviz info, attviz merge, the
explorer) once every shard of the set is there.""")
