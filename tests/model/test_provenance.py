"""Provenance of a precompute run: what it records of the model, read once."""

from __future__ import annotations

from attviz.cli import main
from attviz.store import Store
from tests.helpers.stores import precompute_args


def test_a_run_hashes_the_model_weights_once(tiny_model, tiny_corpus, tmp_path, monkeypatch):
    """The weights' hash (read of every weight file) names the job and goes into the
    provenance: one read serves both."""
    from attviz.precompute.extract import fingerprint, runner

    calls = []
    real = fingerprint.model_fingerprint

    def counted(name):
        calls.append(name)
        return real(name)

    monkeypatch.setattr(fingerprint, "model_fingerprint", counted)
    monkeypatch.setattr(runner, "model_fingerprint", counted)
    out = tmp_path / "s.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out)) == 0
    assert calls == [str(tiny_model)]
    with Store(out) as s:
        assert s.meta.provenance["model_weights_sha256"] == real(str(tiny_model))[
            "model_weights_sha256"]
