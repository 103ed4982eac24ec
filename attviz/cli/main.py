"""The entry point of `attviz`: the parser built from the table of commands, and how errors
end a command.

Bad input (``UserError``, which a store's ``StoreError`` is, a missing or existing file) is
reported as one line with exit status 2; any other exception is a fault and keeps its
traceback. Nothing here imports torch: commands that need it are checked for it first.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from ..errors import UserError
from ..version import __version__
from .command import Command
from .table import COMMANDS


def _add(sub, command: Command) -> None:
    """``command`` as a sub-parser of ``sub`` (with its actions as sub-parsers of its own)."""
    parser = sub.add_parser(command.name, help=command.help, description=command.help,
                            epilog=command.examples or None,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(command=command)
    if command.arguments is not None:
        command.arguments(parser)
    if command.actions:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        for action in command.actions:
            _add(actions, action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="attviz",
        description="Precompute per-head self-attention of a transformer classifier over a "
        "corpus into an HDF5 store, inspect it, and explore it in the browser "
        "(panel serve apps/).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run `attviz COMMAND --help` for a command's options and examples",
    )
    p.add_argument("--version", action="version", version=f"attviz {__version__}")
    sub = p.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    for command in COMMANDS:
        _add(sub, command)
    return p


def _fail(msg: str) -> int:
    print(f"attviz: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Command = args.command
    try:
        if command.needs_model:
            _require_model_extra(command.name)
        return command.run(args)
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
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"attviz {command} runs a model, which needs {' and '.join(missing)}: "
                        "pip install 'attviz[model]'")
