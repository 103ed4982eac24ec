"""The tiers without a model run where torch and transformers cannot be imported, as on a
viewer-only install (``pytest -m "not model"``)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import ROOT


def test_the_tiers_without_a_model_need_no_torch():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "tests.helpers.no_torch", "-m", "not model", "tests/unit",
                        "tests/app"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    tail = r.stdout[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in tail and " deselected" in tail and "error" not in tail.lower(), tail
