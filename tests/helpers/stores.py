"""Stores for tests: the precompute command line of the tiny corpus, a store written again
as shards, and synthetic stores of any size."""

from __future__ import annotations

from pathlib import Path

# label names that contain the cell arrow, digits and spaces (odd_label_store)
ODD_LABEL_NAMES = ["a → b", "3", "x y", "a", "b → 3"]


def precompute_args(model: Path, data: Path, out: Path, **extra) -> list[str]:
    args = ["precompute", "--model", str(model), "--data", str(data), "--out", str(out),
            "--text-column", "body", "--label-column", "topic", "--id-column", "key",
            "--max-length", "32", "--stride", "4", "--block-size", "24", "--no-progress"]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def split_into_shards(src: Path, folder: Path, max_instances: int, cuts, *,
                      provenance: bool = True, tokenizer: bool = False) -> Path:
    """Write the store ``src`` again as shard stores in ``folder``: its parts of at most
    ``max_instances`` instances (documents kept whole), split before the part indices
    ``cuts`` (or into ``cuts`` shards, an int). Without ``provenance`` the shards carry
    none; with ``tokenizer`` they carry the store's tokenizer."""
    import numpy as np

    from attviz.store import Store, StoreMeta, StoreWriter, shard_name

    with Store(src) as s:
        parts = list(s.iter_parts(max_instances=max_instances))
        meta = s.meta if provenance else StoreMeta(s.meta.label_names, s.meta.num_layers,
                                                   s.meta.num_heads, {})
        vocab, tok = s.vocab, s.tokenizer_json() if tokenizer else None
    groups = np.array_split(np.arange(len(parts)), cuts)
    folder.mkdir(parents=True, exist_ok=True)
    for i, g in enumerate(groups):
        with StoreWriter(folder / shard_name(i, len(groups)), meta, vocab,
                         tokenizer_json=tok) as w:
            for j in g:
                w.append(parts[j])
    return folder


def synth_store(path: Path, instances: int, **kw) -> Path:
    """A synthetic store (:func:`attviz.store.synth.synthesize`) at ``path``, no progress bar;
    ``kw``: layers, heads, classes, max_tokens, seed, ..."""
    from attviz.store.synth import synthesize

    return synthesize(path, instances, progress=False, **kw)


def check_indexed_search(path: Path, word: str) -> list[int]:
    """A store's token index answers a word as a scan of its texts does (case folded);
    returns the instances found."""
    import numpy as np

    from attviz.store import Store
    from attviz.store.search import indexed, search

    with Store(path) as s:
        assert indexed(s)
        texts = s.texts(np.arange(s.n_instances))
        hits = np.flatnonzero(search(s, word)).tolist()
        assert hits == [k for k, t in enumerate(texts) if word.lower() in t.lower()]
        return hits
