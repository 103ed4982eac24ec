"""Corpus files: formats, columns, bad rows, label mapping."""

import json

import numpy as np
import pandas as pd
import pytest

from attviz.precompute.corpus import CorpusError, read_corpus, skipped_summary
from attviz.precompute.labels import corpus_labels, label_names

ROWS = [("a1", "First text £5.", "sport"), ("a2", "Second text", "tech"), ("a3", "Third", "sport")]


def _write(tmp_path, fmt):
    df = pd.DataFrame(ROWS, columns=["doc", "content", "cls"])
    p = tmp_path / f"c.{fmt}"
    if fmt == "csv":
        df.to_csv(p, index=False)
    elif fmt == "tsv":
        df.to_csv(p, sep="\t", index=False)
    elif fmt == "jsonl":
        p.write_text("\n".join(json.dumps(r) for r in df.to_dict("records")) + "\n")
    else:
        df.to_parquet(p)
    return p


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_formats(tmp_path, fmt):
    c = read_corpus(_write(tmp_path, fmt), "content", "cls", "doc")
    assert c.texts == [r[1] for r in ROWS]
    assert c.ids == ["a1", "a2", "a3"]
    assert c.labels == ["sport", "tech", "sport"]
    assert c.rows.tolist() == [0, 1, 2]
    assert len(c.sha256) == 64


def test_unlabelled_and_row_number_ids(tmp_path):
    c = read_corpus(_write(tmp_path, "csv"), "content")
    assert c.labels is None and c.ids == ["0", "1", "2"]


def test_missing_column_lists_columns(tmp_path):
    with pytest.raises(CorpusError) as e:
        read_corpus(_write(tmp_path, "csv"), "text")
    msg = str(e.value)
    assert "'text'" in msg and "--text-column" in msg and "doc, content, cls" in msg


def test_unknown_format(tmp_path):
    p = tmp_path / "c.xlsx"
    p.write_text("x")
    with pytest.raises(CorpusError, match=".csv, .tsv, .jsonl or .parquet"):
        read_corpus(p, "text")


def test_empty_and_undecodable_rows_are_named(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"text,label\nfine,a\n,a\n   ,b\nbad \xff\xfe byte,a\nok,b\n")
    with pytest.raises(CorpusError) as e:
        read_corpus(p, "text", "label")
    msg = str(e.value)
    assert "text is empty: rows 1, 2" in msg
    assert "not UTF-8: row 3" in msg
    assert "--skip-bad-rows" in msg and "iconv" in msg
    c = read_corpus(p, "text", "label", skip_bad_rows=True)
    assert c.texts == ["fine", "ok"] and c.rows.tolist() == [0, 4]
    summary = skipped_summary(c.skipped)
    assert "skipped 2 row(s), text is empty: rows 1, 2" in summary
    assert "skipped 1 row(s), text has bytes that are not UTF-8: row 3" in summary


def test_duplicate_ids(tmp_path):
    p = tmp_path / "dup.csv"
    pd.DataFrame({"id": ["x", "y", "x"], "text": ["a", "b", "c"]}).to_csv(p, index=False)
    with pytest.raises(CorpusError, match="repeats an earlier row's id: row 2"):
        read_corpus(p, "text", id_column="id")


def test_limit_keeps_first_rows(tmp_path):
    c = read_corpus(_write(tmp_path, "csv"), "content", limit=2)
    assert len(c) == 2


def test_string_labels_map_through_id2label(tmp_path):
    c = read_corpus(_write(tmp_path, "csv"), "content", "cls")
    names = label_names({0: "tech", 1: "sport"})
    c2, labels = corpus_labels(c, names)
    assert labels.tolist() == [1, 0, 1] and len(c2) == 3


def test_unknown_string_label(tmp_path):
    c = read_corpus(_write(tmp_path, "csv"), "content", "cls")
    with pytest.raises(CorpusError) as e:
        corpus_labels(c, ["tech", "business"])
    msg = str(e.value)
    assert "label 'sport' in rows 0, 2" in msg and "tech, business" in msg
    c2, labels = corpus_labels(c, ["tech", "business"], skip_bad_rows=True)
    assert c2.texts == ["Second text"] and labels.tolist() == [0]
    assert [r for r, _ in c2.skipped] == [0, 2]


def test_integer_labels_range_checked(tmp_path):
    p = tmp_path / "ints.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "y": [0, 2, 5, ""]}).to_csv(p, index=False)
    c = read_corpus(p, "text", "y")
    assert c.labels == [0, 2, 5, None]
    with pytest.raises(CorpusError, match="class index 5 outside 0..2 in row 2"):
        corpus_labels(c, ["a", "b", "c"])
    c2, labels = corpus_labels(c, ["a", "b", "c"], skip_bad_rows=True)
    assert labels.tolist() == [0, 2, -1]  # the empty label is unknown (-1), not an error


def test_generic_label_names_hint(tmp_path):
    c = read_corpus(_write(tmp_path, "csv"), "content", "cls")
    with pytest.raises(CorpusError, match="generic label names"):
        corpus_labels(c, ["LABEL_0", "LABEL_1"])


def test_label_names_order():
    assert label_names({"1": "b", "0": "a"}) == ["a", "b"]
    with pytest.raises(ValueError):
        label_names({0: "a", 2: "c"})


def test_select_keeps_rows(tmp_path):
    c = read_corpus(_write(tmp_path, "csv"), "content", "cls")
    s = c.select(np.array([False, True, True]))
    assert s.rows.tolist() == [1, 2] and s.labels == ["tech", "sport"]
