"""The commands that write and read the files of other tools: `export-attviz`,
`import-attviz` (the original AttViz web tool's JSON)."""

from __future__ import annotations

import argparse

from .command import Command, store_argument


def export_attviz(args: argparse.Namespace) -> int:
    from ..interop.attviz_json import export, select
    from ..store import open_store

    with open_store(args.store) as store:
        idx = select(store, args.misclassified_only, args.gold, args.predicted, args.limit)
        n = export(store, args.out, idx)
    print(f"wrote {args.out}: {n:,} instance(s) as AttViz documents")
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


def import_attviz(args: argparse.Namespace) -> int:
    from ..interop.attviz_json import import_file

    n = import_file(args.file, args.out)
    print(f"wrote {args.out}: {n:,} instance(s) from {args.file}")
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
and gold label in its name. AttViz shows a document's text as HTML: export only corpora you
trust to its page. AttViz holds the whole file in the browser (about 20,000 documents of
128 tokens at most): use the filters and --limit.""")

IMPORT_ATTVIZ = Command(
    "import-attviz", "read a JSON file of the original AttViz web tool into a store",
    _import_arguments, import_attviz,
    examples="""examples:
  attviz import-attviz example.json --out example.h5
  panel serve apps/ --args --store example.h5

Each document becomes one instance: its tokens, one layer per set and one head per vector
(names kept in the store's provenance), its output activations as the class probabilities,
the prediction their argmax, no gold label. Values may be numbers or numeric strings.""")
