"""Fresh virtual environments holding attviz as a user installs it: from a copy of this working
tree, with pip (the install and notebook tiers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import ROOT


def fresh_venv(where: Path, *packages: str) -> Path:
    """A virtual environment at ``where`` holding ``pip install SRC packages...``, SRC being a
    copy of this working tree (tracked and untracked, not ignored files): the build leaves
    nothing in the tree. Returns its bin folder."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", str(where)], check=True)
    src = source_of(where / "bin")
    src.mkdir()
    subprocess.run(f"git -C {ROOT} ls-files -co --exclude-standard -z | "
                   f"xargs -0 cp --parents -t {src}", shell=True, check=True, cwd=ROOT)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    proc = subprocess.run([*pip, str(src), *packages], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return where / "bin"


def pip_install(bin_dir: Path, *packages: str) -> None:
    proc = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                           *packages], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def source_of(bin_dir: Path) -> Path:
    """The copy of the working tree that ``fresh_venv`` installed into ``bin_dir``'s venv
    (to add an extra: ``pip_install(bin_dir, f"{source_of(bin_dir)}[model]")``)."""
    return bin_dir.parent.parent / "src"
