"""The `attviz` command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing

EPILOGS = {
    "precompute": """examples:
  attviz precompute --model ./bbc-model --data ./bbc-model/heldout.csv --out bbc.h5 \\
      --text-column text --label-column category --id-column id
  attviz precompute --model distilbert-base-uncased-finetuned-sst-2-english \\
      --data reviews.parquet --text-column review --out reviews.h5 --device cuda --dtype float16
  attviz precompute ... --shards 8 --shard 3 --out shards/shard-00003-of-00008.h5

A killed run resumes where it stopped when started again with the same arguments
(finished blocks are kept in OUT.partial/). OUT appears only when complete.""",
    "info": """examples:
  attviz info bbc.h5
  attviz info bbc.h5 --json | jq .accuracy
  attviz info shards/          # a folder of shard stores, read as one store""",
    "finetune": """examples:
  attviz finetune --data ../shared/data/bbc/bbc-news.csv --text-column text \\
      --label-column category --id-column id --out bbc-model
  attviz finetune --data reviews.csv --text-column review --label-column stars \\
      --out reviews-model --base ./my-bert --epochs 2 --max-train-segments 0

Writes the model and tokenizer to OUT and the held-out documents to OUT/heldout.csv.
A second run with the same arguments and data reuses the saved model.""",
    "verify": """examples:
  attviz verify bbc.h5 --sample 200
  attviz verify reviews.h5 --model ./reviews-model --tolerance 1e-3

Exits 1 when a stored value differs from the eager re-run by more than --tolerance.""",
    "merge": """examples:
  attviz merge bbc.h5.shards/ --out bbc.h5
  attviz merge part1.h5 part2.h5 --out all.h5""",
    "synth": """examples:
  attviz synth --instances 10000 --out synth-10k.h5
  attviz synth --instances 1000000 --layers 6 --heads 12 --out synth-1m.h5""",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_args(parser: argparse.ArgumentParser, cls, positional: tuple = ()) -> None:
    """One option per field of ``cls``, with the field's help and default."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        required = f.metadata.get("required", False)
        helptext = f.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(_flag(f.name), action="store_true", help=helptext)
            continue
        base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
        default = None if f.default is dataclasses.MISSING else f.default
        if default is not None and default is not False:
            helptext += f" (default: {default})"
        parser.add_argument(_flag(f.name), type=base, default=default, required=required,
                            metavar=f.name.upper(), help=helptext)


def _config(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .finetune import FinetuneConfig
    from .precompute import PrecomputeConfig

    p = argparse.ArgumentParser(
        prog="attviz",
        description="Precompute per-head self-attention of a transformer classifier over a "
        "corpus into an HDF5 store, inspect it, and explore it in the browser "
        "(panel serve apps/).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run `attviz COMMAND --help` for a command's options and examples",
    )
    p.add_argument("--version", action="version", version=f"attviz {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=EPILOGS.get(name),
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    pre = cmd("precompute", "run a sequence classifier over a corpus and write its per-layer, "
              "per-head self-attention, tokens and probabilities to a store")
    add_dataclass_args(pre, PrecomputeConfig)
    pre.add_argument("--no-progress", action="store_true", help="no progress bar")

    info = cmd("info", "summarise a store: instances, documents, layers, heads, labels, "
               "accuracy, confusion matrix, provenance")
    info.add_argument("store", help="store file, or folder of shard stores")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")

    ft = cmd("finetune", "fine-tune a classifier on a labelled corpus (split by document) and "
             "write the held-out documents for precompute")
    add_dataclass_args(ft, FinetuneConfig)
    ft.add_argument("--no-progress", action="store_true", help="no progress bar")

    vf = cmd("verify", "re-run a store's instances with eager attention and compare the stored "
             "diagonals and probabilities")
    vf.add_argument("store", help="store file, or folder of shard stores")
    vf.add_argument("--model", help="model to re-run (default: the one the store names)")
    vf.add_argument("--sample", type=int, help="check this many random instances (default: all)")
    vf.add_argument("--tolerance", type=float, default=1e-3,
                    help="largest allowed absolute difference of a diagonal value (default: "
                    "1e-3, float16 storage)")
    vf.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")

    mg = cmd("merge", "concatenate stores (e.g. the shard stores of a SLURM array) into one store")
    mg.add_argument("sources", nargs="+", help="store files or folders of shard stores, in order")
    mg.add_argument("--out", required=True, help="merged store to write")
    mg.add_argument("--overwrite", action="store_true", help="replace an existing --out")

    sy = cmd("synth", "write a synthetic store with the real schema (for benchmarks)")
    sy.add_argument("--instances", type=int, required=True, help="number of instances")
    sy.add_argument("--out", required=True, help="store file to write")
    sy.add_argument("--layers", type=int, default=6, help="layers (default: 6)")
    sy.add_argument("--heads", type=int, default=12, help="heads per layer (default: 12)")
    sy.add_argument("--classes", type=int, default=5, help="classes (default: 5)")
    sy.add_argument("--tokens", type=int, default=128, help="max tokens per instance (default: 128)")
    sy.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sy.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p


def _fail(msg: str) -> int:
    print(f"attviz: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .errors import UserError
    from .store import StoreError

    try:
        if args.command == "precompute":
            return _precompute(args)
        if args.command == "info":
            return _info(args)
        if args.command == "finetune":
            return _finetune(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "synth":
            return _synth(args)
    except (UserError, StoreError, FileExistsError, FileNotFoundError) as e:
        # bad input: one line; any other exception is a fault and keeps its traceback
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted")
    return 1


def _precompute(args) -> int:
    from .precompute import PrecomputeConfig, run

    cfg = _config(PrecomputeConfig, args)
    res = run(cfg, progress=not args.no_progress)
    if not res.already_complete:
        rate = res.instances / res.seconds if res.seconds else 0.0
        acc = "-" if res.accuracy is None else f"{res.accuracy:.4f}"
        reused = f", {res.reused_blocks} block(s) reused from an earlier run" if res.reused_blocks else ""
        print(f"wrote {res.out}: {res.instances:,} instances from {res.documents:,} documents in "
              f"{res.seconds:.1f} s ({rate:.1f} instances/s{reused}); accuracy {acc}; "
              f"attention path: {res.attention_path}")
    return 0


def _info(args) -> int:
    from .info import render, summary
    from .store import open_store

    with open_store(args.store) as store:
        info = summary(store)
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print(render(info))
    return 0


def _finetune(args) -> int:
    from .finetune import FinetuneConfig, run

    res = run(_config(FinetuneConfig, args), progress=not args.no_progress)
    print(f"model: {res.out}  held-out corpus: {res.heldout}")
    print(f"held-out segment accuracy {res.segment_accuracy:.4f} ({res.heldout_segments} segments), "
          f"document accuracy {res.document_accuracy:.4f} ({res.heldout_documents} documents)"
          + ("  [reused saved model]" if res.reused else ""))
    return 0


def _verify(args) -> int:
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


def _merge(args) -> int:
    from pathlib import Path

    from .store import merge

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    merge(args.sources, out, provenance={"merged_from": [os.fspath(s) for s in args.sources],
                                         "shard": -1})
    from .store import open_store

    with open_store(out) as s:
        print(f"wrote {out}: {s.n_instances:,} instances from {s.n_documents:,} documents")
    return 0


def _synth(args) -> int:
    from .synth import synthesize

    path = synthesize(args.out, args.instances, layers=args.layers, heads=args.heads,
                      classes=args.classes, max_tokens=args.tokens, seed=args.seed,
                      overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
