"""The `attviz` command line: its options and help, and how errors and signals end it.

The commands themselves are in attviz/commands.py. Bad input (``UserError``, which a
store's ``StoreError`` is, a missing or existing file) is reported as one line with exit
status 2; any other exception is a fault and keeps its traceback. SIGTERM stops a precompute
with exit status 143, its finished blocks kept. Nothing here imports torch: commands that
need it check for it first.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import signal
import sys
import threading
import typing

from .cli_help import EPILOGS

# Commands that run a model: they need the `model` extra (torch, transformers).
MODEL_COMMANDS = ("precompute", "finetune", "verify")


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
    sy.add_argument("--tokens", type=int, default=128,
                    help="max tokens per instance (default: 128)")
    sy.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sy.add_argument("--overwrite", action="store_true", help="replace an existing --out")

    ix = cmd("index", "add to a store what the corpus view needs and can be derived from its "
             "stored diagonals: statistics per instance and head, corpus profiles, token index")
    ix.add_argument("store", help="store file, or folder of shard stores (each file indexed)")
    ix.add_argument("--no-progress", action="store_true", help="no progress bar")

    ex = cmd("export-attviz", "write instances of a store as a JSON file for the original "
             "AttViz web tool")
    ex.add_argument("store", help="store file, or folder of shard stores")
    ex.add_argument("--out", required=True, metavar="FILE.json", help="JSON file to write")
    ex.add_argument("--misclassified-only", action="store_true",
                    help="only instances whose prediction differs from their gold label")
    ex.add_argument("--gold", metavar="L", help="only instances of gold label L (a name)")
    ex.add_argument("--predicted", metavar="L", help="only instances predicted as L (a name)")
    ex.add_argument("--limit", type=int, metavar="N",
                    help="at most N instances, the first in store order")

    im = cmd("import-attviz", "read a JSON file of the original AttViz web tool into a store")
    im.add_argument("file", metavar="FILE.json", help="AttViz JSON file")
    im.add_argument("--out", required=True, metavar="STORE.h5", help="store file to write")
    us = cmd("users", "add, remove or list the users of a lab server (`attviz serve`): names, "
             "groups and password hashes")
    us_sub = us.add_subparsers(dest="action", metavar="ACTION", required=True)
    ua = us_sub.add_parser("add", help="add a user (or change one, with --update)",
                           epilog=EPILOGS["users"],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    ua.add_argument("name", metavar="NAME", help="user name (for OAuth: the e-mail address)")
    ua.add_argument("--users", required=True, help="users file (created when missing)")
    ua.add_argument("--group", action="append", required=True,
                    help="a group of the user (repeatable); groups name folders in the access file")
    ua.add_argument("--update", action="store_true", help="replace an existing user's "
                    "password and groups")
    ua.add_argument("--no-password", action="store_true",
                    help="no password: the user signs in through an OAuth provider only")
    ur = us_sub.add_parser("remove", help="remove a user", epilog=EPILOGS["users"],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    ur.add_argument("name", metavar="NAME", help="user name")
    ur.add_argument("--users", required=True, help="users file")
    ul = us_sub.add_parser("list", help="list users and groups (never hashes)",
                           epilog=EPILOGS["users"],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    ul.add_argument("--users", required=True, help="users file")

    sv = cmd("serve", "serve the explorer to a lab: sign-in, per-group store access, several "
             "processes (starts `panel serve apps/`)")
    sv.add_argument("--root", required=True, help="folder of the stores")
    sv.add_argument("--users", help="users file (`attviz users add`); optional with "
                    "--oauth-provider, where groups may come from the provider")
    sv.add_argument("--access", required=True, help="access file (TOML): the folders under "
                    "--root each group may open")
    sv.add_argument("--port", type=int, default=5006, help="port (default: 5006)")
    sv.add_argument("--address", default="127.0.0.1", help="address to listen on "
                    "(default: 127.0.0.1; 0.0.0.0 for all)")
    sv.add_argument("--num-procs", type=int, default=1, help="server processes (default: 1); "
                    "put a proxy with sticky sessions in front of several (README)")
    sv.add_argument("--cookie-secret", help="secret that signs the sign-in cookie and the "
                    "session ids (default: $ATTVIZ_COOKIE_SECRET; required)")
    sv.add_argument("--oauth-provider", help="sign in through Panel's OAuth provider (github, "
                    "gitlab, google, azure, okta, generic, ...) instead of the users file's "
                    "passwords")
    sv.add_argument("--allow-websocket-origin", action="append", metavar="HOST[:PORT]",
                    help="a host name browsers reach the server by (repeatable)")
    sv.add_argument("--check-unused-sessions", type=int, default=5000, metavar="MS",
                    help="how often unused sessions are looked for (default: 5000 ms)")
    sv.add_argument("--unused-session-lifetime", type=int, default=30000, metavar="MS",
                    help="a session without a connection this long is closed (default: 30000 ms)")
    sv.add_argument("--apps", help="the apps/ folder to serve (default: the one beside attviz)")
    sv.add_argument("panel_args", nargs=argparse.REMAINDER, metavar="-- PANEL_OPTIONS",
                    help="options passed to `panel serve` unchanged")

    sn = cmd("shard-name", "print the file name of shard I of N, as precompute/submit.sh names "
             "the shard stores of a SLURM array")
    sn.add_argument("index", metavar="I", help="shard index (0-based); 'all' prints the names of "
                    "all N shards, one a line; '*' prints a shell pattern")
    sn.add_argument("count", metavar="N", help="number of shards; '*' in a shell pattern")
    return p


def _fail(msg: str) -> int:
    print(f"attviz: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import commands
    from .errors import UserError

    command = getattr(commands, args.command.replace("-", "_"))
    try:
        if args.command in MODEL_COMMANDS:
            _require_model_extra(args.command)
        if args.command == "precompute":
            return _stopped_by_sigterm(command, args)
        return command(args)
    except (UserError, FileExistsError, FileNotFoundError) as e:  # StoreError is a UserError
        # bad input: one line; any other exception is a fault and keeps its traceback
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except BrokenPipeError:  # the reader of the output went away (e.g. `| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _require_model_extra(command: str) -> None:
    """Fail in one sentence when torch or transformers is not installed (looked up, not loaded)."""
    from .errors import UserError

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"attviz {command} runs a model, which needs {' and '.join(missing)}: "
                        "pip install 'attviz[model]'")


class _Terminated(BaseException):
    """SIGTERM arrived (kill, scancel, preemption)."""


def _raise_terminated(signum, frame):  # noqa: ARG001
    raise _Terminated()


def _stopped_by_sigterm(command, args) -> int:
    """Run a precompute command; SIGTERM stops it with exit status 143, finished blocks kept."""
    from .partial import finished_blocks, partial_folder

    # signal handlers can only be set in the main thread; elsewhere SIGTERM keeps its action
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return command(args)
    except _Terminated:
        print(f"attviz: stopped by SIGTERM; {finished_blocks(args.out)} finished block(s) kept "
              f"in {partial_folder(args.out)}; run the same command again to resume",
              file=sys.stderr, flush=True)
        return 143
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
