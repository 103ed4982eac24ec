"""The `attviz` command line: one table of commands (:mod:`.table`), the parser built from it,
and the entry point that turns bad input into one line and exit status 2."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
