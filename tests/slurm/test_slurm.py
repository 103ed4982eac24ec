"""precompute/submit.sh against a real slurmctld and slurmd on localhost.

The merged store of a 4-task array must equal the single-process store of the same corpus;
so must the store after a task was cancelled mid-run and the submission repeated, and after
a task was requeued mid-run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from attviz.store import shard_name
from tests.helpers import pausing
from tests.helpers.paths import ROOT, require
from tests.helpers.raw import assert_same_store
from tests.helpers.slurm import LocalCluster, missing_binaries

SUBMIT = ROOT / "precompute" / "submit.sh"
SHARDS = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    missing = missing_binaries()
    require("SLURM and munge", not missing,
            f"missing {missing}: apt-get install slurmctld slurmd slurm-client munge "
            "(scripts/system-deps.sh)")
    require("root", os.geteuid() == 0, "the local cluster runs munged as user munge")
    c = LocalCluster(tmp_path_factory.mktemp("slurm")).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny model, a corpus of several blocks per task, its single-process store."""
    from attviz.cli import main
    from attviz.testing import make_documents, save_tiny_classifier

    base = tmp_path_factory.mktemp("slurm-data")
    model = save_tiny_classifier(base / "model")
    docs = make_documents(160, seed=21, min_words=40, max_words=260)
    corpus = base / "news.csv"
    pd.DataFrame({"key": [f"n{i}" for i in range(len(docs))], "body": [t for t, _ in docs],
                  "topic": [lab for _, lab in docs]}).to_csv(corpus, index=False)
    args = ["--model", str(model), "--data", str(corpus), "--text-column", "body",
            "--label-column", "topic", "--id-column", "key", "--max-length", "96",
            "--batch-size", "2", "--block-size", "6"]
    reference = base / "reference.h5"
    assert main(["precompute", *args, "--out", str(reference), "--no-progress"]) == 0
    return args, reference


def submit(cluster, args, out: Path, *options: str, background: bool = False, **env: str):
    cmd = ["bash", str(SUBMIT), "--shards", str(SHARDS), *options, "--", *args, "--out", str(out)]
    env = {**cluster.env, "ATTVIZ": str(Path(sys.executable).parent / "attviz"), **env}
    if background:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def array_id(text: str) -> str:
    return re.search(r"array job (\d+)", text).group(1)


def pause_in_shard(setup, shard: int) -> dict[str, str]:
    """The environment that pauses task ``shard`` after its first block."""
    from attviz.precompute.corpus import read_corpus
    from attviz.precompute.extract.block import plan_blocks, shard_blocks

    args, _ = setup
    opt = dict(zip(args[::2], args[1::2]))
    texts = read_corpus(opt["--data"], opt["--text-column"], opt["--label-column"],
                        opt["--id-column"]).texts
    starts = plan_blocks(texts, int(opt["--block-size"]), int(opt["--max-length"]))
    blocks = shard_blocks(len(starts) - 1, shard, SHARDS)
    assert len(blocks) >= 2, "the task must finish a block before it pauses"
    return pausing.env(blocks.start + 1)


def paused_task(cluster, shard_dir: Path, shard: int, timeout: float = 300) -> str:
    """'ARRAY_TASK' of task ``shard`` once it has paused (finished a block, not its shard)."""
    marker = shard_dir / f"{shard_name(shard, SHARDS)}.partial" / pausing.MARKER
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists():
            running = [job for job, state in cluster.jobs().items()
                       if state == "RUNNING" and re.fullmatch(rf"\d+_{shard}", job)]
            if len(running) == 1:
                return running[0]
        time.sleep(0.05)
    raise AssertionError(f"task {shard} did not pause")


def test_array_merge_equals_single_process(cluster, setup, tmp_path):
    args, reference = setup
    out = tmp_path / "merged.h5"
    r = submit(cluster, args, out, "--wait")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (re.search(r"array job \d+ \(4 shards", r.stdout)
            and re.search(r"merge job \d+", r.stdout))
    assert f"done: {out}" in r.stdout
    assert_same_store(out, reference)
    from attviz.store import open_store

    with open_store(out.with_name("merged.h5.shards")) as sharded:  # the folder reads as one store
        assert [s.n_instances > 0 for s in sharded.shards] == [True] * SHARDS


def test_cancelled_task_fails_the_wait_and_a_resubmission_resumes(cluster, setup, tmp_path):
    args, reference = setup
    out = tmp_path / "merged.h5"
    shard_dir = tmp_path / "merged.h5.shards"
    waiting = submit(cluster, args, out, "--wait", background=True, **pause_in_shard(setup, 2))
    try:
        task = paused_task(cluster, shard_dir, 2)
        cluster.run(["scancel", task])
        stdout, stderr = waiting.communicate(timeout=600)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 1, stdout + stderr
    assert "was not written by this submission" in stderr
    assert not out.exists()
    i = int(task.split("_")[1])
    name = shard_name(i, SHARDS)
    assert i == 2 and not (shard_dir / name).exists()
    kept = list((shard_dir / f"{name}.partial").glob("block-*.h5"))
    assert kept, "the cancelled task kept no finished block"

    again = submit(cluster, args, out, "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_same_store(out, reference)
    logs = "".join(p.read_text() for p in (shard_dir / "logs").glob("shard-*.out"))
    assert "already complete" in logs  # shards that had finished were not recomputed
    assert re.search(r"\d+ block\(s\) reused", logs)  # the cancelled one resumed


def test_requeued_task_resumes(cluster, setup, tmp_path):
    args, reference = setup
    out = tmp_path / "merged.h5"
    shard_dir = tmp_path / "merged.h5.shards"
    waiting = submit(cluster, args, out, "--wait", "--requeue", background=True,
                     **pause_in_shard(setup, 1))
    try:
        task = paused_task(cluster, shard_dir, 1)
        cluster.run(["scontrol", "requeue", task])
        # SLURM holds a requeued job back for about two minutes; let it start now
        deadline = time.time() + 60
        while time.time() < deadline:
            if cluster.jobs().get(task) == "PENDING":
                cluster.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=False)
                break
            time.sleep(0.1)
        stdout, stderr = waiting.communicate(timeout=900)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, stdout + stderr
    assert_same_store(out, reference)
    logs = "".join(p.read_text() for p in (shard_dir / "logs").glob("shard-*.out"))
    assert "restart 1" in logs and re.search(r"\d+ block\(s\) reused", logs)


def test_submit_refuses_bad_arguments(tmp_path):
    r = subprocess.run(["bash", str(SUBMIT), "--shards", "0", "--", "--out", "x.h5"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--shards N" in r.stderr
    r = subprocess.run(["bash", str(SUBMIT), "--shards", "2", "--", "--model", "m"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--out" in r.stderr
    r = subprocess.run(["bash", str(SUBMIT), "--shards", "2", "--", "--shard", "1", "--out", "x"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "set by submit.sh" in r.stderr
    r = subprocess.run(["bash", str(SUBMIT), "--shards", "2", "--", "--out",
                        str(tmp_path / "no-such-folder" / "x.h5")], capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "no-such-folder").exists()
    (tmp_path / "o.h5.shards").mkdir()
    (tmp_path / "o.h5.shards" / shard_name(1, 3)).write_bytes(b"")
    r = subprocess.run(["bash", str(SUBMIT), "--shards", "2", "--", "--out",
                        str(tmp_path / "o.h5")], capture_output=True, text=True)
    assert r.returncode == 2 and "another --shards" in r.stderr
    r = subprocess.run(["bash", str(SUBMIT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--partition" in r.stdout and "--gres" in r.stdout
