"""A run's blocks with their tokenising and block files beside the forward passes
(attviz/precompute/pipeline.py): the same windows, one block ahead; block files written in
the background, none lost when a run fails or pauses; labels and windows checked before
the weights load."""

import threading

import numpy as np
import pandas as pd
import pytest
from transformers import AutoTokenizer

import attviz.precompute.pipeline as pipeline
from attviz.cli import main
from attviz.precompute.extract.block import plan_blocks
from attviz.precompute.pipeline import Tokenised, Writes
from attviz.precompute.windows import segment_documents
from attviz.store import Store
from tests.helpers.raw import assert_same_store
from tests.helpers.stores import precompute_args

WAIT = 60  # seconds before a wait for another thread counts as a failure


class Recorded:
    """``segment_documents`` that records which thread tokenised which texts, and signals
    each call's start."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []  # thread name, first text
        self.started = threading.Semaphore(0)

    def __call__(self, tokenizer, texts, *args):
        self.calls.append((threading.current_thread().name, texts[0]))
        self.started.release()
        return segment_documents(tokenizer, texts, *args)


def _same_windows(a, b) -> None:
    assert np.array_equal(a.document, b.document) and np.array_equal(a.segment, b.segment)
    assert a.text == b.text
    for x, y in [(a.input_ids, b.input_ids), (a.spans, b.spans), (a.special, b.special)]:
        assert len(x) == len(y) and all(np.array_equal(u, v) for u, v in zip(x, y))


def test_blocks_are_tokenised_one_ahead_in_their_own_thread(tiny_model, big_corpus,
                                                            monkeypatch):
    tok = AutoTokenizer.from_pretrained(tiny_model)
    texts = pd.read_csv(big_corpus)["body"].tolist()
    starts = plan_blocks(texts, 24, 32)
    assert len(starts) > 4
    rec = Recorded()
    monkeypatch.setattr(pipeline, "segment_documents", rec)
    order = [3, 0, 1]
    with Tokenised(tok, texts, starts, order, 32, 4) as ahead:
        # the first block starts without being asked for; the second only once it is
        assert rec.started.acquire(timeout=WAIT)
        assert not rec.started.acquire(timeout=0.2)
        for i, b in enumerate(order):
            got = ahead.get(b)
            if i + 1 < len(order):
                assert rec.started.acquire(timeout=WAIT), f"block {order[i + 1]} never started"
            _same_windows(got, segment_documents(tok, texts[starts[b]:starts[b + 1]], 32, 4))
        with pytest.raises(KeyError):
            ahead.get(2)
    assert [t for t, _ in rec.calls] == ["attviz-tokenise_0"] * 3
    assert [first for _, first in rec.calls] == [texts[starts[b]] for b in order]


def test_a_failed_block_write_is_raised_by_the_next_submit_and_by_wait(tmp_path, monkeypatch,
                                                                       capsys):
    def write(path, meta, part, precision):
        if path.name == "bad":
            raise OSError(f"{path}: disk full")
        path.write_text("written")

    monkeypatch.setattr(pipeline, "write_block", write)
    w = Writes()
    w.submit(tmp_path / "bad", None, None, 16)
    with pytest.raises(OSError, match="disk full"):
        w.submit(tmp_path / "good", None, None, 16)
    w.submit(tmp_path / "good", None, None, 16)
    w.wait()
    assert (tmp_path / "good").read_text() == "written"
    w.submit(tmp_path / "bad", None, None, 16)
    with pytest.raises(OSError, match="disk full"):
        w.close()
    # while another error stops the run, a failed write is said, not raised in its place
    w = Writes()
    w.submit(tmp_path / "bad", None, None, 16)
    w.close(quiet=True)
    assert "a block file could not be written" in capsys.readouterr().err


@pytest.mark.parametrize("background", [True, False])
def test_a_run_tokenises_and_writes_its_blocks_beside_the_forward_passes(
        tmp_path, tiny_model, big_corpus, big_reference, monkeypatch, background):
    """Where the forward passes leave the CPU free (a GPU; here forced), blocks are
    tokenised and written in background threads; on a CPU in the run's thread."""
    monkeypatch.setattr(pipeline, "beside", lambda device: background)
    rec = Recorded()
    monkeypatch.setattr(pipeline, "segment_documents", rec)
    write, writers = pipeline.write_block, []

    def recorded_write(*args):
        writers.append(threading.current_thread().name)
        write(*args)

    monkeypatch.setattr(pipeline, "write_block", recorded_write)
    out = tmp_path / "s.h5"
    assert main(precompute_args(tiny_model, big_corpus, out, batch_size=2)) == 0
    assert len(rec.calls) > 1  # one call per block
    here = threading.current_thread().name
    assert {t for t, _ in rec.calls} == {"attviz-tokenise_0" if background else here}
    assert set(writers) == {"attviz-write_0" if background else here}
    assert len(writers) == len(rec.calls)
    assert_same_store(out, big_reference)


def test_a_block_finished_before_a_failure_is_on_disk(tmp_path, tiny_model, big_corpus,
                                                      monkeypatch):
    """The failure comes while block 0 waits to be written in the background: the run
    still writes it."""
    monkeypatch.setattr(pipeline, "beside", lambda device: True)
    failed = threading.Event()
    compute, write = pipeline.compute_block, pipeline.write_block
    calls = []

    def compute_then_fail(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            failed.set()
            raise RuntimeError("the second block fails")
        return compute(*args, **kw)

    def write_after_the_failure(*args):
        assert failed.wait(timeout=WAIT)
        write(*args)

    monkeypatch.setattr(pipeline, "compute_block", compute_then_fail)
    monkeypatch.setattr(pipeline, "write_block", write_after_the_failure)
    out = tmp_path / "s.h5"
    with pytest.raises(RuntimeError, match="the second block fails"):
        main(precompute_args(tiny_model, big_corpus, out, batch_size=2))
    kept = sorted(p.name for p in (tmp_path / "s.h5.partial").glob("block-*.h5"))
    assert kept == ["block-000000.h5"]
    with Store(tmp_path / "s.h5.partial" / kept[0], fragment=True) as s:
        assert s.n_instances > 0


@pytest.mark.parametrize("data,extra,message", [
    ({"body": ["fine text"], "topic": ["weather"]}, [],
     "label not in the model's labels (label 'weather'): row 0"),
    ({"body": ["fine text"], "topic": ["sport"]}, ["--max-length", "4096"],
     "--max-length 4096 is more than the model takes"),
])
def test_bad_labels_and_windows_are_named_before_the_weights_load(tmp_path, tiny_model,
                                                                   monkeypatch, capsys, data,
                                                                   extra, message):
    import attviz.precompute.extract.runner as runner

    def no_weights(*args, **kw):
        raise AssertionError("the weights were loaded")

    monkeypatch.setattr(runner, "load_model", no_weights)
    p = tmp_path / "c.csv"
    pd.DataFrame(data).to_csv(p, index=False)
    args = ["precompute", "--model", str(tiny_model), "--data", str(p), "--out",
            str(tmp_path / "s.h5"), "--text-column", "body", "--label-column", "topic",
            "--no-progress", *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_model_without_a_sequence_classifier_is_named_before_the_weights_load(
        tmp_path, tiny_model, tiny_corpus, capsys):
    """A folder whose config has no sequence classifier in transformers (here a vision
    model's, beside a usable tokenizer) is refused as before, and before any labels."""
    import shutil

    from transformers import ViTConfig

    folder = tmp_path / "vit"
    shutil.copytree(tiny_model, folder)
    (folder / "config.json").unlink()
    ViTConfig(num_hidden_layers=1, hidden_size=8, num_attention_heads=2,
              intermediate_size=8).save_pretrained(folder)
    args = ["precompute", "--model", str(folder), "--data", str(tiny_corpus), "--out",
            str(tmp_path / "s.h5"), "--text-column", "body", "--label-column", "topic",
            "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--model {folder}: cannot load a sequence classifier from this folder" in err
    assert "ViTConfig" in err and "not in the model's labels" not in err


def test_a_pause_before_a_block_finds_the_blocks_before_it_on_disk(
        tmp_path, tiny_model, big_corpus, big_reference, monkeypatch):
    """With the blocks written in the background, the seam before block b (where tests
    stop a run) still comes once blocks 0..b-1 are on disk; a slow write shows it."""
    import time

    import attviz.precompute.job as job

    monkeypatch.setattr(pipeline, "beside", lambda device: True)
    write = pipeline.write_block

    def slow_write(*args):
        time.sleep(0.3)  # widens the window in which a block could still be unwritten
        write(*args)

    seen = []

    def check(partial, b):
        seen.append(b)
        missing = [k for k in range(b) if not (partial / f"block-{k:06d}.h5").exists()]
        assert missing == [], f"before block {b}: blocks {missing} not on disk"

    monkeypatch.setattr(pipeline, "write_block", slow_write)
    monkeypatch.setattr(job, "before_block", check)
    out = tmp_path / "s.h5"
    assert main(precompute_args(tiny_model, big_corpus, out, batch_size=2)) == 0
    assert len(seen) > 2 and seen == sorted(seen)
    assert_same_store(out, big_reference)
