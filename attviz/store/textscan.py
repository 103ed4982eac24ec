"""The text scan: which instances' texts contain a string, read from a store's concatenated
texts in large blocks (the "in words" search, and search without a token index)."""

from __future__ import annotations

import numpy as np

BLOCK = 8 << 20  # bytes of text scanned per read


def scan_texts(data, offsets: np.ndarray, query: str, case_sensitive: bool = False
               ) -> np.ndarray:
    """[instances] bool: whose text contains ``query``, ignoring case unless asked.

    data: the HDF5 dataset of all texts' UTF-8 bytes; offsets: [instances + 1] where each
    text starts. ASCII queries are searched byte-wise over all texts (fast); other queries
    are compared after Unicode case folding, text by text.
    """
    n = len(offsets) - 1
    hits = np.zeros(n, dtype=bool)
    if not query:
        hits[:] = True
        return hits
    if not case_sensitive and not query.isascii():
        return _scan_folded(data, offsets, query)
    needle = query.encode("utf-8")
    if not case_sensitive:
        needle = needle.lower()  # ASCII query: byte-wise lower-casing is exact
    total = int(offsets[-1])
    overlap = len(needle) - 1
    pos = 0
    raw = np.empty(BLOCK + overlap, dtype=np.uint8)
    while pos < total:
        end = min(total, pos + BLOCK)
        stop = min(total, end + overlap)
        data.read_direct(raw, np.s_[pos:stop], np.s_[0 : stop - pos])
        buf = raw[: stop - pos].tobytes()
        if not case_sensitive:
            buf = buf.lower()
        i = buf.find(needle)
        while i != -1 and i < end - pos:
            at = pos + i
            k = int(np.searchsorted(offsets, at, side="right")) - 1
            nxt = int(offsets[k + 1])
            if at + len(needle) <= nxt:  # inside one instance's text
                hits[k] = True
                i = buf.find(needle, nxt - pos)  # rest of this text need not be scanned
            else:
                i = buf.find(needle, i + 1)
        pos = end
    return hits


def _scan_folded(data, offsets: np.ndarray, query: str, step: int = 20_000) -> np.ndarray:
    """Unicode case-insensitive search (casefold), text by text: exact, slower."""
    needle = query.casefold()
    n = len(offsets) - 1
    hits = np.zeros(n, dtype=bool)
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        raw = data[int(offsets[lo]) : int(offsets[hi])].tobytes()
        base = int(offsets[lo])
        hits[lo:hi] = [needle in raw[int(offsets[k]) - base : int(offsets[k + 1]) - base]
                       .decode("utf-8", "replace").casefold() for k in range(lo, hi)]
    return hits
