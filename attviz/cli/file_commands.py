"""The commands that write and read the files of other tools: `export-attviz`,
`import-attviz` (the original AttViz web tool's JSON)."""

from __future__ import annotations

import argparse

from .command import Command, store_argument


def export_attviz(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..interop.attviz_json import export, select
    from ..store import open_store

    if args.max_bytes < 1000:
        raise UserError(f"--max-bytes {args.max_bytes}: give at least 1000 bytes")
    with open_store(args.store) as store:
        idx = select(store, args.misclassified_only, args.gold, args.predicted, args.limit)
        files = export(store, args.out, idx, args.max_bytes)
    if len(files) == 1:
        print(f"wrote {args.out}: {len(idx):,} instance(s) as AttViz documents")
    else:
        print(f"wrote {len(idx):,} instance(s) as AttViz documents in {len(files)} files of at "
              f"most {args.max_bytes:,} bytes (one file would be more than AttViz opens): "
              + ", ".join(str(f) for f in files))
    return 0


def _export_arguments(p: argparse.ArgumentParser) -> None:
    store_argument(p)
    p.add_argument("--out", required=True, metavar="FILE.json", help="JSON file to write")
    p.add_argument("--misclassified-only", action="store_true",
                   help="only instances whose prediction differs from their gold label")
    p.add_argument("--gold", metavar="L", help="only instances of gold label L (a name)")
    p.add_argument("--predicted", metavar="L", help="only instances predicted as L (a name)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N instances, the first in store order")
    p.add_argument("--max-bytes", type=int, default=500_000_000, metavar="B",
                   help="no file larger than B bytes: when all the instances take more, they "
                   "go into numbered files OUT-1-of-N.json, ... (default: 500,000,000, under "
                   "the ~512 MB a browser holds as one string)")


def import_attviz(args: argparse.Namespace) -> int:
    import sys

    from ..interop.attviz_read import import_file

    n, dropped = import_file(args.file, args.out)
    print(f"wrote {args.out}: {n:,} instance(s) from {args.file}")
    if dropped:
        shown = ", ".join(dropped[:3]) + (f" and {len(dropped) - 3:,} more" if len(dropped) > 3
                                          else "")
        print(f"left out {len(dropped):,} vector(s) AttViz added to sets (aggregates, not "
              f"heads): {shown}", file=sys.stderr)
    return 0


def _import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.json", help="AttViz JSON file")
    p.add_argument("--out", required=True, metavar="STORE.h5", help="store file to write")


EXPORT_ATTVIZ = Command(
    "export-attviz", "write instances of a store as a JSON file for the original AttViz web "
    "tool", _export_arguments, export_attviz,
    examples="""examples:
  attviz export-attviz bbc.h5 --out bbc-errors.json --misclassified-only --limit 500
  attviz export-attviz bbc.h5 --out tech-as-business.json --gold tech --predicted business

Writes the JSON that the original AttViz web tool opens: one document per instance, one set
per layer, one vector per head, the tokens joined by spaces as its text, the instance index
and gold label in its name. A value of 0 is written as the smallest positive float16
(5.9605e-08): AttViz's log-scale plot cannot place 0. A field "attviz" of each document,
which AttViz ignores, keeps the instance, gold label, document id, segment and the places of
the zeros, so that import-attviz gives back the same store values (docs/format.md).

AttViz reads the whole file as one string: above ~512 MB (the longest string a browser
holds; about 6,000 documents of 128 tokens with 72 heads) it fails without a message. No file
written is larger than --max-bytes: the instances go into numbered files instead. A
selection of no instance is refused (AttViz cannot open an empty file). AttViz shows a
document's text as HTML: export only corpora you trust to its page.""")

IMPORT_ATTVIZ = Command(
    "import-attviz", "read a JSON file of the original AttViz web tool into a store",
    _import_arguments, import_attviz,
    examples="""examples:
  attviz import-attviz example.json --out example.h5
  panel serve apps/ --args --store example.h5

Each document becomes one instance: its tokens, one layer per set and one head per vector
(names kept in the store's provenance), its output activations as the class probabilities,
the prediction their argmax. Files written by export-attviz give back their gold labels,
document ids, segments and zeros; others have no gold label, and each document is its own.
Values may be numbers or numeric strings; the file a list of documents or an object of them
by number, UTF-8 with or without a byte-order mark. Vectors AttViz adds to a set for an
aggregate (named like 3_mean) are not heads: they are left out, and listed. A malformed file
is refused with one line naming the document, set and vector (exit status 2, no store).""")
