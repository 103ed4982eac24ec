"""Every command of the `attviz` command line, in the order `attviz --help` lists them. Each
is declared once, beside its body (:class:`attviz.cli.command.Command`)."""

from __future__ import annotations

from .ablate_command import ABLATE
from .command import Command
from .file_commands import EXPORT_ATTVIZ, IMPORT_ATTVIZ
from .lab_commands import SERVE, USERS
from .model_commands import FINETUNE, PRECOMPUTE, VERIFY
from .store_commands import INDEX, INFO, MERGE, SHARD_NAME, SYNTH

COMMANDS: tuple[Command, ...] = (
    PRECOMPUTE, INFO, FINETUNE, VERIFY, ABLATE, MERGE, SYNTH, INDEX, EXPORT_ATTVIZ, IMPORT_ATTVIZ,
    USERS, SERVE, SHARD_NAME,
)
