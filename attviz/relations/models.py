"""Which model computed a store, where it is on this server, and loading it once.

A store's provenance names its model (``model``: a folder or a hub id) and, for a folder,
the SHA-256 of its weight files (``model_weights_sha256``). The folder is looked for as
named (a relative name from the server's working folder), beside the store, and under a
model root (``--model-root`` / ``ATTVIZ_MODEL_ROOT``): a folder of that name, or any model
folder below it whose weights have that SHA-256. Every reason the model cannot be
used is a :class:`Unavailable` whose text is one sentence for the page.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..precompute.extract.fingerprint import model_fingerprint

ENV_MODEL_ROOT = "ATTVIZ_MODEL_ROOT"
MODEL_LIBRARIES = ("torch", "transformers")
SEARCH_DEPTH = 2  # folder levels below a model root searched for the weights


class Unavailable(Exception):
    """The relations cannot be computed; ``str(error)`` says why, in one sentence."""


def missing_libraries() -> list[str]:
    """The libraries of ``attviz[model]`` this install lacks (looked up, not imported)."""
    return [m for m in MODEL_LIBRARIES if importlib.util.find_spec(m) is None]


@dataclass(frozen=True)
class ModelSource:
    """Where to load a store's model from: a folder, or a hub id (with its revision)."""

    name: str
    revision: str = ""
    weights_sha256: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.revision, self.weights_sha256)


_fingerprints: dict[tuple, str] = {}
_fingerprint_lock = threading.Lock()


def weights_sha256(folder: Path) -> str:
    """SHA-256 of the weight files of ``folder`` (as precompute records it), cached while the
    files keep their size and modification time."""
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    key = (str(folder.resolve()),) + tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                                          for f in files)
    with _fingerprint_lock:
        if key not in _fingerprints:
            _fingerprints[key] = model_fingerprint(str(folder)).get("model_weights_sha256", "")
        return _fingerprints[key]


def _candidates(name: str, root: Path | None, near: Path | None) -> list[Path]:
    out = [Path(name)]
    if near is not None:
        out += [near / Path(name).name, near / name]
    if root is not None:
        out += [root / Path(name).name]
        if not Path(name).is_absolute():
            out.append(root / name)
        below = [root]
        for _ in range(SEARCH_DEPTH):
            below = sorted(p for d in below if d.is_dir() for p in d.iterdir() if p.is_dir())
            out += [p for p in below if (p / "config.json").exists()]
    seen, unique = set(), []
    for p in out:
        if p not in seen and (p / "config.json").exists():
            seen.add(p)
            unique.append(p)
    return unique


def locate(provenance: dict, model_root: str | os.PathLike | None = None,
           near: str | os.PathLike | None = None) -> ModelSource:
    """The store's model on this server, checked against the provenance's weights SHA-256;
    ``near``: the store's folder."""
    name = str(provenance.get("model", "") or "")
    sha = str(provenance.get("model_weights_sha256", "") or "")
    revision = str(provenance.get("model_revision", "") or "")
    if not name or name == "synthetic":
        raise Unavailable("This store does not name the model that computed it, so its "
                          "relations cannot be computed.")
    root = Path(model_root) if model_root else None
    differs = None
    for folder in _candidates(name, root, Path(near) if near else None):
        if not sha:
            return ModelSource(str(folder))
        got = weights_sha256(folder)
        if got == sha:
            return ModelSource(str(folder), weights_sha256=sha)
        if differs is None and folder.name == Path(name).name:
            differs = (folder, got)
    if differs is not None:
        folder, got = differs
        raise Unavailable(f"The model at {folder} has other weights than the ones that "
                          f"computed this store (SHA-256 {got[:12]}… instead of {sha[:12]}…).")
    if revision and not sha:  # a hub id: only what this server has cached
        return ModelSource(name, revision=revision)
    where = f" or under {root}" if root is not None else ""
    raise Unavailable(f"The store's model {name} is not on this server{where}: point "
                      f"--model-root (or {ENV_MODEL_ROOT}) at the folder it moved to.")


def load(source: ModelSource):
    """The classifier, in eval mode with eager attention and no weight gradients."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    kw = {"revision": source.revision, "local_files_only": True} if source.revision else {}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            source.name, attn_implementation="eager", dtype=torch.float32, **kw)
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise Unavailable(f"The store's model {source.name} cannot be loaded on this server "
                          f"({first.rstrip('.')}).") from None
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    with torch.inference_mode():  # the first run of a process starts torch's thread pool
        model(input_ids=torch.zeros((1, 8), dtype=torch.long), output_attentions=True)
    return model


class ModelCache:
    """At most ``size`` loaded models, the least recently used dropped first; each is
    loaded once, however many sessions ask at the same time."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._models: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, source: ModelSource):
        with self._lock:
            if source.key in self._models:
                self._models.move_to_end(source.key)
                return self._models[source.key]
            model = load(source)
            self.loads += 1
            self._models[source.key] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return model

    def __len__(self) -> int:
        return len(self._models)
