"""Where things are, and how a test whose dependency is missing skips (or, in CI, fails)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DATA = ROOT / "tests" / "data"
STORE_V1_0 = DATA / "store-v1.0.h5"  # the frozen store of format 1.0


def require(what: str, available: bool, why: str) -> None:
    """Skip a test whose dependency is missing; in CI (CI=true) fail instead."""
    if available:
        return
    msg = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: a missing test dependency fails the run)")
    pytest.skip(msg)


def require_module(name: str) -> None:
    require(name, importlib.util.find_spec(name) is not None, f"pip install {name}")


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name) or (name if os.path.exists(name) else None)
    require(name, path is not None, hint)
    return path
