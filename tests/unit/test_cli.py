"""The command line itself: user errors as one line, faults with their traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from attviz.cli import main
from tests.helpers.paths import ROOT, STORE_V1_0
from tests.helpers.processes import NO_MODEL_STACK, attviz_process


def test_a_user_error_is_one_line_without_traceback(tmp_path, capsys):
    out = tmp_path / "s.h5"
    out.write_bytes(b"")
    assert main(["synth", "--instances", "10", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"attviz: error: {out} exists; pass --overwrite to replace it"]
    r = attviz_process("precompute", "--model", "m", "--data", "d.csv", "--out",
                       str(tmp_path / "o.h5"), "--shards", "0")
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
    import attviz.cli.info

    def broken(store):
        raise fault("a fault inside attviz")

    monkeypatch.setattr(attviz.cli.info, "summary", broken)
    with pytest.raises(fault, match="a fault inside attviz"):
        main(["info", str(STORE_V1_0)])


def test_an_unexpected_exception_prints_a_traceback_in_a_process():
    r = attviz_process("info", str(STORE_V1_0), prelude=(
        "import attviz.cli.info\n"
        "def broken(store):\n    raise ValueError('a fault inside attviz')\n"
        "attviz.cli.info.summary = broken"))
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "ValueError: a fault inside attviz" in r.stderr


@pytest.mark.model  # precompute looks for torch before it runs
def test_sigterm_stops_a_precompute_with_status_143(monkeypatch, tmp_path, capsys):
    import attviz.precompute.job

    def precompute(cfg, progress):  # a precompute that gets SIGTERM while it works
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.01)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(attviz.precompute.job, "run", precompute)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "s.h5"
    assert main(["precompute", "--model", "m", "--data", "d.csv", "--out", str(out)]) == 143
    err = capsys.readouterr().err
    assert err.splitlines() == [f"attviz: stopped by SIGTERM; 0 finished block(s) kept in "
                                f"{tmp_path / 's.h5.partial'}; run the same command again "
                                "to resume"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the command's only


def test_the_sigterm_handler_is_removed_after_a_failed_precompute(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    assert main(["precompute", "--model", "m", "--data", "d.csv", "--out",
                 str(tmp_path / "o.h5"), "--shards", "0"]) == 2
    assert signal.getsignal(signal.SIGTERM) == before


def test_shard_name_prints_the_names_the_store_reads(tmp_path, capsys):
    from attviz.store import shard_name, shard_paths

    assert main(["shard-name", "3", "8"]) == 0
    assert capsys.readouterr().out == shard_name(3, 8) + "\n"
    assert main(["shard-name", "all", "3"]) == 0
    names = capsys.readouterr().out.splitlines()
    assert names == [shard_name(i, 3) for i in range(3)]
    # files so named are read as one complete set of shards, in order
    for name in reversed(names):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in shard_paths(tmp_path)] == names


def test_shard_name_patterns_match_the_names(capsys):
    from fnmatch import fnmatchcase

    from attviz.store import shard_name

    patterns = {}
    for args in (["*", "8"], ["*", "*"], ["2", "*"]):
        assert main(["shard-name", *args]) == 0
        patterns[tuple(args)] = capsys.readouterr().out.strip()
    assert fnmatchcase(shard_name(5, 8), patterns["*", "8"])
    assert not fnmatchcase(shard_name(5, 9), patterns["*", "8"])
    assert all(fnmatchcase(shard_name(i, n), patterns["*", "*"]) for i, n in [(0, 1), (7, 12)])
    assert not fnmatchcase("other.h5", patterns["*", "*"])
    assert fnmatchcase(shard_name(2, 4), patterns["2", "*"])
    assert not fnmatchcase(shard_name(3, 4), patterns["2", "*"])


@pytest.mark.parametrize("args,message", [
    (["8", "8"], "shard index 8 is not in 0..7"),
    (["x", "8"], "shard index I must be a whole number, not 'x'"),
    (["0", "0"], "number of shards N must be at least 1"),
    (["all", "*"], "needs a number of shards N"),
])
def test_shard_name_refuses_bad_arguments(args, message, capsys):
    assert main(["shard-name", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("attviz: error: ") and message in err


def test_shard_name_help_has_examples():
    r = attviz_process("shard-name", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "attviz shard-name 3 8" in r.stdout
    r = attviz_process("--help")
    assert "shard-name" in r.stdout


def test_shell_scripts_take_shard_names_from_attviz():
    for script in ("submit.sh", "attviz-shard.sbatch"):
        text = (ROOT / "precompute" / script).read_text()
        assert "shard-name" in text and "%05d" not in text, script


def test_the_command_line_loads_no_torch_until_a_model_runs():
    code = ("import sys\n"
            "import attviz.cli, attviz.precompute.job, attviz.precompute.finetune\n"
            "attviz.cli.build_parser()\n"
            "attviz.precompute.job.PrecomputeConfig(model='m', data='d', out='o').blocks\n"
            "attviz.precompute.finetune.FinetuneConfig(data='d', text_column='t',"
            " label_column='l', out='o')\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["precompute", "--help"], ["finetune", "--help"],
                                  ["verify", "--help"], ["info", str(STORE_V1_0)],
                                  ["shard-name", "1", "2"]])
def test_commands_without_a_model_work_without_torch(args):
    r = attviz_process(*args, prelude=NO_MODEL_STACK)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()


@pytest.mark.parametrize("args", [
    ["precompute", "--model", "m", "--data", "d.csv", "--out", "o.h5"],
    ["finetune", "--data", "d.csv", "--text-column", "t", "--label-column", "l", "--out", "m"],
    ["verify", str(STORE_V1_0)],
])
def test_model_commands_without_torch_say_what_to_install(args):
    r = attviz_process(*args, prelude=NO_MODEL_STACK)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"attviz: error: attviz {args[0]} runs a model, which needs torch and transformers: "
        "pip install 'attviz[model]'"]
