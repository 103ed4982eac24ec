"""What a command of the `attviz` command line is: declared once, in the table of
:mod:`.table`, and turned into a sub-parser by :func:`attviz.cli.main.build_parser`."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass

Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One `attviz` command.

    ``arguments`` adds its options to its parser; ``run`` does the work with the parsed
    arguments and returns the exit status; ``examples`` is shown below the options of
    ``attviz NAME --help``; ``needs_model``: it runs a model, so it needs the ``model`` extra
    (torch, transformers), looked for before it runs. ``actions``: sub-commands (``attviz
    users add``), each a Command of its own whose ``run`` is used.
    """

    name: str
    help: str
    arguments: Arguments | None = None
    run: Callable[[argparse.Namespace], int] | None = None
    examples: str = ""
    needs_model: bool = False
    actions: tuple[Command, ...] = ()


def flag(name: str) -> str:
    """The option of a config field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def dataclass_arguments(cls, *extra: Arguments) -> Arguments:
    """Arguments from the fields of the config dataclass ``cls`` (one option per field, with
    the field's help and default), then ``extra``."""

    def add(parser: argparse.ArgumentParser) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            helptext = f.metadata.get("help", "")
            if kind is bool:
                parser.add_argument(flag(f.name), action="store_true", help=helptext)
                continue
            base = next((t for t in typing.get_args(kind) if t is not type(None)), kind)
            default = None if f.default is dataclasses.MISSING else f.default
            if default is not None and default is not False:
                helptext += f" (default: {default})"
            parser.add_argument(flag(f.name), type=base, default=default,
                                required=f.metadata.get("required", False),
                                metavar=f.name.upper(), help=helptext)
        for more in extra:
            more(parser)

    return add


def config_from(cls, args: argparse.Namespace):
    """The config dataclass ``cls`` from parsed arguments made by :func:`dataclass_arguments`."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def no_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", help="store file, or folder of shard stores")
