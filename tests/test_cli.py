"""The command line itself: user errors as one line, faults with their traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from attviz.cli import main

from .conftest import ROOT

STORE = ROOT / "tests" / "data" / "store-v1.0.h5"


def _attviz(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    """``attviz ARGS`` in a fresh interpreter, after running ``prelude`` there."""
    code = f"import sys\n{prelude}\nfrom attviz.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_a_user_error_is_one_line_without_traceback(tmp_path, capsys):
    out = tmp_path / "s.h5"
    out.write_bytes(b"")
    assert main(["synth", "--instances", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"attviz: error: {out} exists; pass --overwrite to replace it"]
    r = _attviz("precompute", "--model", "m", "--data", "d.csv", "--out", str(tmp_path / "o.h5"),
                "--shards", "0")
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["attviz: error: --shards must be at least 1"]


def test_a_store_error_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not a store")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(bad) in err and "Traceback" not in err


@pytest.mark.parametrize("fault", [ZeroDivisionError, ValueError, RuntimeError])
def test_an_unexpected_exception_keeps_its_traceback(monkeypatch, fault):
    import attviz.info

    def broken(store):
        raise fault("a fault inside attviz")

    monkeypatch.setattr(attviz.info, "summary", broken)
    with pytest.raises(fault, match="a fault inside attviz"):
        main(["info", str(STORE)])


def test_an_unexpected_exception_prints_a_traceback_in_a_process():
    r = _attviz("info", str(STORE), prelude=(
        "import attviz.info\n"
        "def broken(store):\n    raise ValueError('a fault inside attviz')\n"
        "attviz.info.summary = broken"))
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "ValueError: a fault inside attviz" in r.stderr
