"""The one error type for input a person can fix: `attviz` prints it as one line, exit 2."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input (a flag, a file, a model): ``str(error)`` says what is wrong and what to do.

    The command line reports it as one line without a traceback; any other exception is a
    fault of attviz and keeps its traceback. A ``ValueError``, so code that caught the
    ValueErrors attviz raised for bad input still catches them.
    """
