"""Reading a corpus file (CSV, TSV, JSONL, Parquet) into documents, with row-level checks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UserError

FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}
_INT_RE = re.compile(r"^[+-]?\d+$")
_SURROGATE_RE = re.compile("[\udc80-\udcff]")


class CorpusError(UserError):
    """The corpus cannot be used as asked; the message says which rows and what to do."""


@dataclass
class Corpus:
    """Documents of a corpus file, in file order (bad rows removed if asked).

    texts, ids: [documents]; rows: [documents] 0-based row of each document in the file
    (0 = the first data row); labels: raw gold labels ([documents], int or str, None where
    missing) or None when no label column was given.
    """

    path: Path
    texts: list[str]
    ids: list[str]
    rows: np.ndarray
    labels: list | None
    text_column: str
    label_column: str | None
    id_column: str | None
    sha256: str
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, keep: np.ndarray) -> Corpus:
        """The documents at positions ``keep`` (a bool mask or indices), in order."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return Corpus(
            path=self.path, texts=[self.texts[i] for i in idx], ids=[self.ids[i] for i in idx],
            rows=self.rows[idx],
            labels=None if self.labels is None else [self.labels[i] for i in idx],
            text_column=self.text_column, label_column=self.label_column,
            id_column=self.id_column, sha256=self.sha256, skipped=list(self.skipped),
        )


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in FORMATS:
        return FORMATS[suffixes[-1]]
    raise CorpusError(
        f"{path}: cannot tell the format from the name; use a .csv, .tsv, .jsonl or .parquet file"
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in (".gz", ".bz2", ".xz", ".zst"):
        import bz2
        import gzip  # noqa: E401
        import lzma

        opener = {".gz": gzip.decompress, ".bz2": bz2.decompress,
                  ".xz": lzma.decompress}.get(suffix)
        if opener is None:
            raise CorpusError(f"{path}: .zst files are not supported; decompress it first")
        raw = opener(raw)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw


def read_table(path: Path) -> pd.DataFrame:
    """The file as a DataFrame of object columns, every cell as read (no NaN for empty)."""
    fmt = detect_format(path)
    try:
        # Undecodable bytes become lone surrogates so that the rows holding them can be named.
        if fmt in ("csv", "tsv"):
            return pd.read_csv(
                io.BytesIO(_read_bytes(path)), sep="," if fmt == "csv" else "\t", dtype=object,
                keep_default_na=False, na_filter=False, encoding="utf-8",
                encoding_errors="surrogateescape",
            )
        if fmt == "jsonl":
            records = []
            for lineno, line in enumerate(
                    _read_bytes(path).decode("utf-8", "surrogateescape").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    raise CorpusError(f"{path}: line {lineno} is not valid JSON ({e})") from None
                if not isinstance(rec, dict):
                    raise CorpusError(f"{path}: line {lineno} is not a JSON object")
                records.append(rec)
            return pd.DataFrame.from_records(records).astype(object)
        return pd.read_parquet(path).astype(object)
    except CorpusError:
        raise
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except Exception as e:
        raise CorpusError(f"{path}: cannot be read as {fmt.upper()} ({e})") from None


def _rows_text(rows: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _cell_missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v == "")


def _label_value(v):
    """A raw label as int (when integral) or str; None when missing."""
    if _cell_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    s = str(v).strip()
    return int(s) if _INT_RE.match(s) else s


def _texts(values: list, flag) -> list[str]:
    """The texts of a column; ``flag(reason, row)`` for each empty or undecodable one."""
    texts: list[str] = []
    for i, v in enumerate(values):
        s = "" if _cell_missing(v) else str(v)
        if isinstance(s, str) and _SURROGATE_RE.search(s):
            flag("text has bytes that are not UTF-8", i)
        elif not s.strip():
            flag("text is empty", i)
        texts.append(s)
    return texts


def _ids(values: list, column: str, flag) -> list[str]:
    """The document ids of a column; ``flag(reason, row)`` for each empty, undecodable or
    repeated one."""
    ids = []
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        s = "" if _cell_missing(v) else str(v)
        if not s:
            flag(f"{column!r} is empty", i)
        elif _SURROGATE_RE.search(s):
            flag(f"{column!r} has bytes that are not UTF-8", i)
        elif s in seen:
            flag(f"{column!r} repeats an earlier row's id", i)
        else:
            seen[s] = i
        ids.append(s)
    return ids


def read_corpus(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str | None = None,
    id_column: str | None = None,
    *,
    skip_bad_rows: bool = False,
    limit: int | None = None,
) -> Corpus:
    """Read and check a corpus file.

    Bad rows (empty text, undecodable bytes, missing or duplicate id) raise
    :class:`CorpusError` naming them, unless ``skip_bad_rows``: then they are dropped and
    listed in ``Corpus.skipped``. ``limit`` keeps the first ``limit`` rows of the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    df = read_table(path)
    if limit is not None:
        df = df.iloc[: max(0, int(limit))]
    wanted = {"--text-column": text_column, "--label-column": label_column,
              "--id-column": id_column}
    for flag, col in wanted.items():
        if col is not None and col not in df.columns:
            cols = ", ".join(map(str, df.columns)) or "(none)"
            raise CorpusError(
                f"{path}: has no column {col!r} (given by {flag}); its columns are: {cols}"
            )
    n = len(df)
    problems: dict[str, list[int]] = {}

    def flag(reason: str, row: int) -> None:
        problems.setdefault(reason, []).append(row)

    texts = _texts(df[text_column].tolist(), flag)
    ids = _ids(df[id_column].tolist(), id_column, flag) if id_column is not None else [
        str(i) for i in range(n)]
    labels = None
    if label_column is not None:
        labels = []
        for i, v in enumerate(df[label_column].tolist()):
            if isinstance(v, str) and _SURROGATE_RE.search(v):
                flag(f"{label_column!r} has bytes that are not UTF-8", i)
            labels.append(_label_value(v))

    bad_rows = sorted({r for rows in problems.values() for r in rows})
    skipped: list[tuple[int, str]] = []
    if problems:
        if not skip_bad_rows:
            raise bad_rows_error(path, problems)
        reasons = {r: reason for reason, rows in problems.items() for r in rows}
        skipped = [(r, reasons[r]) for r in bad_rows]
    keep = np.ones(n, dtype=bool)
    keep[bad_rows] = False
    corpus = Corpus(
        path=path, texts=texts, ids=ids, rows=np.arange(n, dtype=np.int64), labels=labels,
        text_column=text_column, label_column=label_column, id_column=id_column,
        sha256=file_sha256(path), skipped=skipped,
    )
    return corpus.select(keep) if bad_rows else corpus


def rows_by_reason(skipped: list[tuple[int, str]]) -> dict[str, list[int]]:
    """The rows of (row, reason) pairs grouped by reason, in order of first appearance."""
    by_reason: dict[str, list[int]] = {}
    for row, reason in skipped:
        by_reason.setdefault(reason, []).append(row)
    return by_reason


def bad_rows_error(path, problems: dict[str, list[int]], note: str = "") -> CorpusError:
    """One message naming every kind of bad row found (reason: rows), and what to do.

    ``note``: one or more sentences put before the advice (e.g. the model's labels).
    """
    n_bad = len({r for rows in problems.values() for r in rows})
    detail = "; ".join(f"{reason}: {_rows_text(sorted(rows))}" for reason, rows in problems.items())
    hint = (
        " Fix those rows, or pass --skip-bad-rows to leave them out."
        if not any("UTF-8" in r for r in problems)
        else " Re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), fix those rows,"
        " or pass --skip-bad-rows to leave them out."
    )
    return CorpusError(f"{path}: {n_bad} bad row(s) (row 0 = first data row): "
                       f"{detail}.{note}{hint}")


def skipped_summary(skipped: list[tuple[int, str]]) -> str:
    """One line per reason: how many rows were skipped and which."""
    return "\n".join(
        f"  skipped {len(rows)} row(s), {reason}: {_rows_text(sorted(rows))}"
        for reason, rows in rows_by_reason(skipped).items()
    )
