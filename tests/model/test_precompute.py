"""The precompute job end to end: numbers, order, resume after kills, shards, errors."""

import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from attviz.cli import main
from attviz.store import Store, merge, open_store, shard_name
from tests.helpers import pausing
from tests.helpers.raw import assert_same_store
from tests.helpers.stores import precompute_args
from tests.helpers.waiting import until


def test_head_statistics_match_eager_maps(tmp_path, tiny_model, tiny_corpus):
    """With --entropy: every statistic per instance and head equals the same quantity from
    transformers' eager maps of the stored token ids (float16 precision)."""
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "e.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out, batch_size=5) + ["--entropy"]) == 0
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model,
                                                              attn_implementation="eager").eval()
    with h5py.File(out, "r") as f:
        start, ids = f["/instances/token_start"][:], f["/tokens/id"][:]
        special = f["/tokens/special"][:]
        got = {n: f[f"/instances/head_stats/{n}"][:] for n in f["/instances/head_stats"]}
    assert set(got) == {"self_mean", "self_max", "self_argmax", "first_mass", "last_mass",
                        "entropy"}
    same = 0  # heads whose stored argmax is the position eager's float16 values give
    for k in range(len(start) - 1):
        a, b = start[k], start[k + 1]
        with torch.no_grad():
            maps = model(input_ids=torch.tensor(ids[a:b], dtype=torch.long)[None],
                         output_attentions=True).attentions
        m = torch.stack([x[0] for x in maps]).double().numpy()  # [layers, heads, n, n]
        n = b - a
        diag = np.diagonal(m, axis1=-2, axis2=-1)  # [layers, heads, n]
        use = ~special[a:b] if (~special[a:b]).any() else np.ones(n, bool)
        want = {
            "self_mean": diag[..., use].astype(np.float16).astype(np.float64).mean(-1),
            "self_max": diag[..., use].max(-1),
            "first_mass": m[..., :, 0].mean(-1), "last_mass": m[..., :, n - 1].mean(-1),
            "entropy": (-(m * np.log(np.maximum(m, 1e-300))).sum(-1) / np.log(n)).mean(-1),
        }
        for name, value in want.items():
            np.testing.assert_allclose(got[name][k], value, atol=2e-3, rtol=2e-3,
                                       err_msg=f"{name} of instance {k}")
        # the stored position is a query token holding the largest value; of values tied
        # within float16's rounding either may be stored
        stored = got["self_argmax"][k].astype(np.int64)
        assert use[stored].all()
        held = np.take_along_axis(diag, stored[..., None], -1)[..., 0]
        np.testing.assert_allclose(held, diag[..., use].max(-1), atol=2e-3, rtol=2e-3,
                                   err_msg=f"self_argmax of instance {k}")
        argmax = np.flatnonzero(use)[diag[..., use].astype(np.float16).argmax(-1)]
        same += int((stored == argmax).sum())
    assert same > 0.95 * (len(start) - 1) * stored.size  # near-ties are rare


def test_store_matches_eager_rerun(tiny_store, tiny_model, tiny_corpus):
    """Every stored diagonal equals an eager output_attentions run within fp16 precision."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model,
                                                               attn_implementation="eager").eval()
    with Store(tiny_store) as s:
        assert s.n_instances > 40  # long documents were split
        insts = s.read_instances(np.arange(s.n_instances))
    with torch.no_grad():
        for inst in insts:
            out = model(input_ids=torch.from_numpy(inst.token_ids.astype(np.int64))[None],
                        output_attentions=True)
            d = torch.stack([torch.diagonal(a[0], dim1=-2, dim2=-1) for a in out.attentions])
            want = d.permute(2, 0, 1).numpy()
            np.testing.assert_allclose(inst.attention, want, atol=1e-3, rtol=0)
            probs = torch.softmax(out.logits[0], -1).numpy()
            np.testing.assert_allclose(inst.probabilities, probs, atol=1e-5)
            assert inst.prediction == int(np.argmax(probs))


def test_store_follows_corpus_order_and_text(tiny_store, tiny_corpus):
    df = pd.read_csv(tiny_corpus)
    with Store(tiny_store) as s:
        c = s.columns
        assert c.token_start[0] == 0 and c.token_start[-1] == s.n_tokens
        assert (np.diff(c.token_start) <= 32).all() and (np.diff(c.token_start) > 2).all()
        assert s.document_ids(np.arange(s.n_documents)) == df["key"].tolist()
        assert (np.diff(c.document) >= 0).all()
        for d in range(s.n_documents):
            segs = c.segment[c.document == d]
            assert segs.tolist() == list(range(len(segs)))
        names = s.label_names
        gold = df["topic"].map({n: i for i, n in enumerate(names)}).to_numpy()
        np.testing.assert_array_equal(c.label, gold[c.document])
        for inst in s.read_instances(np.arange(0, s.n_instances, 7)):
            assert inst.text in df["body"].iloc[int(c.document[inst.index])]
            for (a, b), tok, sp in zip(inst.spans, inst.tokens, inst.special):
                if not sp:
                    assert inst.text[a:b].lower() == tok.removeprefix("##")
        prov = s.meta.provenance
        assert prov["text_column"] == "body" and prov["max_length"] == 32 and prov["stride"] == 4
        assert prov["attention_path"].startswith("fused")
        assert len(prov["corpus_sha256"]) == 64 and prov["model_weights_sha256"]
        assert prov["precompute_config"]["block_size"] == 24


def test_rerun_of_a_complete_store_does_nothing(tiny_store, tiny_model, tiny_corpus, capsys):
    before = tiny_store.stat().st_mtime_ns
    assert main(precompute_args(tiny_model, tiny_corpus, tiny_store)) == 0
    assert "already complete" in capsys.readouterr().err
    assert tiny_store.stat().st_mtime_ns == before


def test_existing_store_from_other_settings_is_kept(tiny_store, tiny_model, tiny_corpus, capsys):
    before = tiny_store.read_bytes()
    assert main(precompute_args(tiny_model, tiny_corpus, tiny_store, max_length=24)) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert tiny_store.read_bytes() == before


def _spawn(args, **env):
    return subprocess.Popen([sys.executable, "-m", "attviz.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


@pytest.mark.parametrize("sig,after_blocks", [(signal.SIGKILL, 2), (signal.SIGTERM, 3),
                                              (signal.SIGKILL, 0)])
def test_killed_run_resumes_to_the_same_store(tmp_path, tiny_model, big_corpus, big_reference,
                                              sig, after_blocks):
    out = tmp_path / "s.h5"
    partial = tmp_path / "s.h5.partial"
    args = precompute_args(tiny_model, big_corpus, out, batch_size=2)
    # the run stops before block `after_blocks`, with blocks 0..after_blocks-1 written
    proc = _spawn(args, **pausing.env(after_blocks))
    try:
        until(lambda: (partial / pausing.MARKER).exists() or proc.poll() is not None,
              "the run to pause", timeout=300)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (143 if sig == signal.SIGTERM else -9)
    if sig == signal.SIGTERM:
        assert "run the same command again to resume" in err
        assert f"stopped by SIGTERM; {after_blocks} finished block(s) kept in {partial}" in err
    assert not out.exists()
    kept = sorted(b.name for b in partial.glob("block-*.h5"))
    assert len(kept) >= after_blocks
    assert kept == [f"block-{b:06d}.h5" for b in range(after_blocks)]
    for b in partial.glob("block-*.h5"):  # every kept block is whole
        Store(b, fragment=True).close()
    assert main(args) == 0
    assert not partial.exists()
    assert_same_store(out, big_reference)


def test_precompute_runs_in_a_thread(tmp_path, tiny_model, tiny_corpus):
    """The library function sets no signal handler, so any thread may run it."""
    import threading

    from attviz.precompute.job import PrecomputeConfig, run

    out = tmp_path / "t.h5"
    cfg = PrecomputeConfig(model=str(tiny_model), data=str(tiny_corpus), out=str(out),
                           text_column="body", label_column="topic", limit=6, max_length=32,
                           block_size=4)
    results, failures = [], []

    def work():
        try:
            results.append(run(cfg, progress=False))
        except BaseException as e:  # reported below, in the test's thread
            failures.append(e)

    t = threading.Thread(target=work)
    t.start()
    t.join(timeout=300)
    assert not t.is_alive() and failures == []
    assert results[0].documents == 6 and results[0].out == out
    with Store(out) as s:
        assert s.n_documents == 6


def test_shards_equal_the_single_process_store(tmp_path, tiny_model, big_corpus, big_reference):
    folder = tmp_path / "shards"
    for i in range(4):
        out = folder / shard_name(i, 4)
        assert main(precompute_args(tiny_model, big_corpus, out, batch_size=2, shards=4,
                                    shard=i)) == 0
    with open_store(folder) as sharded, Store(big_reference) as ref:
        assert sharded.n_instances == ref.n_instances
        assert [s.n_instances > 0 for s in sharded.shards] == [True] * 4
        np.testing.assert_array_equal(sharded.columns.probabilities, ref.columns.probabilities)
        a = sharded.read_instances([0, sharded.n_instances - 1])
        b = ref.read_instances([0, ref.n_instances - 1])
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x.attention, y.attention)
    merged = merge([folder], tmp_path / "merged.h5")
    assert_same_store(merged, big_reference)


def test_partial_from_other_settings_is_refused(tmp_path, tiny_model, big_corpus):
    out = tmp_path / "s.h5"
    (tmp_path / "s.h5.partial").mkdir()
    (tmp_path / "s.h5.partial" / "job.json").write_text('{"job_key": "something else"}')
    with pytest.raises(FileExistsError, match="other settings"):
        from attviz.precompute.job import PrecomputeConfig, run

        run(PrecomputeConfig(model=str(tiny_model), data=str(big_corpus), out=str(out),
                             text_column="body", max_length=32), progress=False)


def test_bad_input_leaves_no_file(tmp_path, tiny_model, capsys):
    p = tmp_path / "c.csv"
    out = tmp_path / "s.h5"
    args = ["precompute", "--model", str(tiny_model), "--data", str(p), "--out", str(out),
            "--text-column", "body", "--label-column", "topic", "--no-progress"]
    pd.DataFrame({"body": ["fine text", "", "more text"],
                  "topic": ["sport", "sport", "weather"]}).to_csv(p, index=False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "text is empty: row 1" in err and "Traceback" not in err
    assert "label not in the model's labels (label 'weather'): row 2" in err  # the same message
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [p]
    assert main(args + ["--skip-bad-rows"]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 row(s), text is empty: row 1" in err
    assert "skipped 1 row(s), label not in the model's labels (label 'weather'): row 2" in err
    with Store(out) as s:
        assert s.n_documents == 1 and s.meta.provenance["skipped_rows"] == 2
        assert s.document_ids([0]) == ["0"]
    pd.DataFrame({"body": ["", "x"], "topic": ["sport", "weather"]}).to_csv(p, index=False)
    assert main(args + ["--skip-bad-rows", "--out", str(tmp_path / "none.h5")]) == 2
    assert "no documents left" in capsys.readouterr().err
    assert not (tmp_path / "none.h5").exists()


def test_one_message_lists_every_kind_of_bad_row(tmp_path, tiny_model, capsys):
    p = tmp_path / "c.csv"
    p.write_bytes(b"key,body,topic\n"
                  b"a,fine text,sport\n"
                  b"b,,sport\n"                  # empty text
                  b"c,bad \xff byte,tech\n"      # undecodable text
                  b"d,more text,weather\n"       # unknown label
                  b"a,other text,tech\n"         # repeated id
                  b"f,last text,7\n")            # class index out of range
    out = tmp_path / "s.h5"
    args = ["precompute", "--model", str(tiny_model), "--data", str(p), "--out", str(out),
            "--text-column", "body", "--label-column", "topic", "--id-column", "key",
            "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for kind in ("5 bad row(s)", "text is empty: row 1", "text has bytes that are not UTF-8: row 2",
                 "label not in the model's labels (label 'weather'): row 3",
                 "'key' repeats an earlier row's id: row 4",
                 "label not in the model's labels (class index 7 outside 0..2): row 5",
                 "The model's labels are: sport, tech, business", "iconv", "--skip-bad-rows"):
        assert kind in err, kind
    assert not out.exists() and not (tmp_path / "s.h5.partial").exists()
    assert main(args + ["--skip-bad-rows"]) == 0
    err = capsys.readouterr().err
    assert "5 row(s) left out (--skip-bad-rows)" in err
    for kind in ("text is empty: row 1", "text has bytes that are not UTF-8: row 2",
                 "(label 'weather'): row 3", "repeats an earlier row's id: row 4",
                 "(class index 7 outside 0..2): row 5"):
        assert kind in err, kind
    with Store(out) as s:
        assert s.document_ids(np.arange(s.n_documents)) == ["a"]


def test_missing_model_is_a_clear_error(tmp_path, tiny_corpus, capsys):
    code = main(["precompute", "--model", str(tmp_path / "nomodel"), "--data", str(tiny_corpus),
                 "--out", str(tmp_path / "o.h5"), "--text-column", "body", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "--model" in err and "Traceback" not in err


@pytest.mark.parametrize("flag,value,message", [
    ("--device", "gpu0", "--device gpu0: not a device torch knows"),
    ("--dtype", "half", "--dtype half: choose one of float32, float16, bfloat16"),
    ("--attention", "fast", "--attention fast: choose auto, fused or eager"),
    ("--max-length", "4096", "--max-length 4096 is more than the model takes"),
    ("--streams", "0", "--streams 0: give auto or a number of at least 1"),
])
def test_bad_flags_are_one_line_errors(tmp_path, tiny_model, tiny_corpus, capsys, flag, value,
                                       message):
    out = tmp_path / "o.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out) + [flag, value]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("attviz: error: ")
    assert message in err and not out.exists()


def test_unlabelled_corpus_and_limit(tmp_path, tiny_model, tiny_corpus):
    out = tmp_path / "u.h5"
    assert main(["precompute", "--model", str(tiny_model), "--data", str(tiny_corpus),
                 "--out", str(out), "--text-column", "body", "--limit", "5",
                 "--no-progress"]) == 0
    with Store(out) as s:
        assert s.n_documents == 5 and (s.columns.label == -1).all()
        assert s.document_ids(np.arange(5)) == ["0", "1", "2", "3", "4"]
        assert (s.columns.token_count <= 128).all()


def test_plan_blocks_is_deterministic_and_whole():
    from attviz.precompute.extract.block import plan_blocks, shard_blocks

    texts = ["x" * n for n in (10, 2000, 50, 50, 50, 9000, 5, 5)]
    starts = plan_blocks(texts, block_size=3, max_length=16)
    assert starts[0] == 0 and starts[-1] == len(texts) and (np.diff(starts) > 0).all()
    assert np.array_equal(starts, plan_blocks(texts, 3, 16))
    ranges = [shard_blocks(len(starts) - 1, i, 3) for i in range(3)]
    assert [b for r in ranges for b in r] == list(range(len(starts) - 1))


def test_block_function_gives_the_stored_numbers(tiny_store, tiny_model, tiny_corpus):
    """The blocks finetune's evaluation computes are those precompute stores."""
    from attviz.precompute.corpus import read_corpus
    from attviz.precompute.extract import Extractor, load_classifier, resolve_device
    from attviz.precompute.extract.block import BlockSettings, predict
    from attviz.precompute.job import PrecomputeConfig
    from attviz.precompute.labels import corpus_labels, label_names

    cfg = PrecomputeConfig(model=str(tiny_model), data=str(tiny_corpus), out="-",
                           max_length=32, stride=4, block_size=24)
    assert cfg.blocks == BlockSettings(max_length=32, stride=4, block_size=24)
    # finetune's evaluation leaves all but the window length at precompute's defaults
    assert PrecomputeConfig(model="m", data="d", out="o", max_length=64).blocks == BlockSettings(64)
    model, tokenizer = load_classifier(str(tiny_model), resolve_device("cpu"))
    corpus = read_corpus(tiny_corpus, "body", "topic", "key")
    corpus, labels = corpus_labels(corpus, label_names(model.config.id2label))
    parts = list(predict(corpus, labels, tokenizer, Extractor(model, tokenizer.pad_token_id),
                         cfg.blocks))
    assert len(parts) > 1
    with Store(tiny_store) as s:
        c = s.columns
        np.testing.assert_array_equal(np.concatenate([p.probabilities for p in parts]),
                                      c.probabilities)
        np.testing.assert_array_equal(np.concatenate([p.label for p in parts]), c.label)
        stored = np.concatenate([i.attention for i in s.read_instances(np.arange(s.n_instances))])
    np.testing.assert_array_equal(np.concatenate([p.attention for p in parts]), stored)


def test_cli_module_runs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "attviz.cli", "precompute", "--help"],
                       capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0 and "examples:" in r.stdout


def test_another_shard_at_out_is_not_taken_for_complete(tmp_path, tiny_model, tiny_corpus, capsys):
    out = tmp_path / "s.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out, shards=2, shard=0)) == 0
    before = out.read_bytes()
    assert main(precompute_args(tiny_model, tiny_corpus, out, shards=2, shard=1)) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before


def test_blocks_left_by_a_kill_after_assembly_are_removed(tiny_store, tiny_model, tiny_corpus):
    partial = tiny_store.with_name(tiny_store.name + ".partial")
    partial.mkdir()
    (partial / "block-000000.h5").write_bytes(b"left over")
    assert main(precompute_args(tiny_model, tiny_corpus, tiny_store)) == 0
    assert not partial.exists()



def test_the_summary_counts_what_the_store_holds(tmp_path, tiny_model, tiny_corpus):
    """run()'s instances, documents and accuracy (counted as the blocks are assembled)
    equal those of the store it wrote, with unlabelled documents and several blocks."""
    from attviz.precompute.job import PrecomputeConfig, run

    df = pd.read_csv(tiny_corpus)
    df.loc[::3, "topic"] = ""  # a third without a gold label
    data = tmp_path / "mixed.csv"
    df.to_csv(data, index=False)
    cfg = PrecomputeConfig(model=str(tiny_model), data=str(data), out=str(tmp_path / "m.h5"),
                           text_column="body", label_column="topic", max_length=32,
                           block_size=7)
    res = run(cfg, progress=False)
    with Store(res.out) as s:
        cols = s.columns
        labelled = cols.label >= 0
        assert labelled.any() and not labelled.all() and s.n_instances > s.n_documents
        assert (res.instances, res.documents) == (s.n_instances, s.n_documents)
        assert res.accuracy == float(cols.correct[labelled].mean())
