"""The commands that run a model: `precompute`, `finetune`, `verify` (they need the `model`
extra). Nothing here imports torch: the jobs load it when they run."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..precompute.finetune import FinetuneConfig
from ..precompute.job import PrecomputeConfig
from .command import Command, config_from, dataclass_arguments, no_progress, store_argument


class _Terminated(BaseException):
    """SIGTERM arrived (kill, scancel, preemption)."""


def _raise_terminated(signum, frame):  # noqa: ARG001
    raise _Terminated()


def precompute(args: argparse.Namespace) -> int:
    """Run (or resume) a precompute; SIGTERM stops it with exit status 143, finished blocks
    kept."""
    from ..precompute.partial import finished_blocks, partial_folder

    # signal handlers can only be set in the main thread; elsewhere SIGTERM keeps its action
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return _precompute(args)
    except _Terminated:
        print(f"attviz: stopped by SIGTERM; {finished_blocks(args.out)} finished block(s) kept "
              f"in {partial_folder(args.out)}; run the same command again to resume",
              file=sys.stderr, flush=True)
        return 143
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _precompute(args: argparse.Namespace) -> int:
    from ..precompute import job

    res = job.run(config_from(PrecomputeConfig, args), progress=not args.no_progress)
    if not res.already_complete:
        rate = res.instances / res.seconds if res.seconds else 0.0
        acc = "-" if res.accuracy is None else f"{res.accuracy:.4f}"
        reused = (f", {res.reused_blocks} block(s) reused from an earlier run"
                  if res.reused_blocks else "")
        print(f"wrote {res.out}: {res.instances:,} instances from {res.documents:,} documents in "
              f"{res.seconds:.1f} s ({rate:.1f} instances/s{reused}); accuracy {acc}; "
              f"attention path: {res.attention_path}")
    return 0


def finetune(args: argparse.Namespace) -> int:
    from ..precompute.finetune import run

    res = run(config_from(FinetuneConfig, args), progress=not args.no_progress)
    print(f"model: {res.out}  held-out corpus: {res.heldout}")
    print(f"held-out segment accuracy {res.segment_accuracy:.4f} "
          f"({res.heldout_segments} segments), "
          f"document accuracy {res.document_accuracy:.4f} ({res.heldout_documents} documents)"
          + ("  [reused saved model]" if res.reused else ""))
    return 0


def verify(args: argparse.Namespace) -> int:
    from ..precompute.verify import RELATIVE
    from ..precompute.verify import verify as run_verify
    from ..store import open_store

    with open_store(args.store) as store:
        res = run_verify(store, args.model, args.sample, args.seed, progress=True)
    eight = res["precision"] == 8
    if eight:
        ok, bound = res["values_outside_8bit_bound"] == 0, (
            f"8-bit values: within {RELATIVE:.0%} above 1e-6, 1e-6 below; "
            f"{res['values_outside_8bit_bound']} outside")
    else:
        ok, bound = res["max_abs_attention_diff"] <= args.tolerance, f"tolerance {args.tolerance:g}"
    ok = ok and res["prediction_mismatches"] == 0
    print(f"checked {res['checked']:,} instances against {res['model']} (eager attention), "
          f"layers {','.join(map(str, res['layers']))}: max |diagonal difference| "
          f"{res['max_abs_attention_diff']:.2e} (relative {res['max_rel_attention_diff']:.2%} "
          f"for values >= 1e-6), max |probability difference| "
          f"{res['max_abs_probability_diff']:.2e}, {res['prediction_mismatches']} prediction "
          f"mismatch(es): {'OK' if ok else 'FAILED'} ({bound})")
    return 0 if ok else 1


def _verify_arguments(p: argparse.ArgumentParser) -> None:
    store_argument(p)
    p.add_argument("--model", help="model to re-run (default: the one the store names)")
    p.add_argument("--sample", type=int, help="check this many random instances (default: all)")
    p.add_argument("--tolerance", type=float, default=1e-3,
                   help="largest allowed absolute difference of a diagonal value in a float16 "
                   "store (default: 1e-3); an 8-bit store is held to its code's bound: 3%% of "
                   "the value above 1e-6, 1e-6 below")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")


PRECOMPUTE = Command(
    "precompute", "run a sequence classifier over a corpus and write its per-layer, per-head "
    "self-attention, tokens and probabilities to a store",
    dataclass_arguments(PrecomputeConfig, no_progress), precompute, needs_model=True,
    examples="""examples:
  attviz precompute --model ./bbc-model --data ./bbc-model/heldout.csv --out bbc.h5 \\
      --text-column text --label-column category --id-column id
  attviz precompute --model distilbert-base-uncased-finetuned-sst-2-english \\
      --data reviews.parquet --text-column review --out reviews.h5 --device cuda --dtype float16
  attviz precompute ... --shards 8 --shard 3 --out shards/shard-00003-of-00008.h5
  attviz precompute ... --layers 0,5,11            # the diagonals of three layers only
  attviz precompute ... --layers=-4- --precision 8 # the last four layers, one byte a value
  attviz precompute ... --max-length 4096 --batch-size 1   # long inputs, one at a time

A killed run resumes where it stopped when started again with the same arguments
(finished blocks are kept in OUT.partial/). OUT appears only when complete.""")

FINETUNE = Command(
    "finetune", "fine-tune a classifier on a labelled corpus (split by document) and write the "
    "held-out documents for precompute",
    dataclass_arguments(FinetuneConfig, no_progress), finetune, needs_model=True,
    examples="""examples:
  attviz finetune --data ../shared/data/bbc/bbc-news.csv --text-column text \\
      --label-column category --id-column id --out bbc-model
  attviz finetune --data reviews.csv --text-column review --label-column stars \\
      --out reviews-model --base ./my-bert --epochs 2 --max-train-segments 0
  attviz finetune --data sst2.parquet --text-column sentence --label-column label \\
      --label-names negative,positive --out sst2-model    # labels 0/1 get names

Writes the model and tokenizer to OUT and the held-out documents to OUT/heldout.csv.
A second run with the same arguments and data reuses the saved model.""")

VERIFY = Command(
    "verify", "re-run a store's instances with eager attention and compare the stored "
    "diagonals and probabilities", _verify_arguments, verify, needs_model=True,
    examples="""examples:
  attviz verify bbc.h5 --sample 200
  attviz verify reviews.h5 --model ./reviews-model --tolerance 1e-3

Exits 1 when a stored value differs from the eager re-run by more than --tolerance (or
the 8-bit bound), or a prediction differs. Memory: one layer's attention maps at a time
(heads x tokens x tokens floats: 0.8 GB for 12 heads at 4,096 tokens).""")
