"""Which model produced the numbers: cheap to compute, no torch needed."""

from __future__ import annotations

import hashlib
from pathlib import Path


def model_fingerprint(name: str) -> dict:
    """Revision facts for provenance and restart checks.

    A local folder: SHA-256 of its weight files and of tokenizer.json. A hub id: the
    commit hash of the resolved revision (from its config).
    """
    path = Path(name)
    out: dict = {"model_revision": ""}
    if path.is_dir():
        files = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
        if files:
            h = hashlib.sha256()
            for f in files:
                with open(f, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        h.update(block)
            out["model_weights_sha256"] = h.hexdigest()
        tok = path / "tokenizer.json"
        if tok.exists():
            out["tokenizer_sha256"] = hashlib.sha256(tok.read_bytes()).hexdigest()
        return out
    try:
        from transformers import AutoConfig

        out["model_revision"] = getattr(AutoConfig.from_pretrained(name), "_commit_hash", "") or ""
    except Exception:  # noqa: BLE001 - loading the model itself reports the real problem
        pass
    return out
