"""Batches in several streams (threads, torch's threads split): the same numbers, in order,
as one stream, and the same job."""

import copy

import h5py
import numpy as np
import pytest
import torch

from attviz.cli import main
from attviz.errors import UserError
from attviz.precompute.extract import Extractor
from attviz.testing import make_model
from tests.helpers.stores import precompute_args
from tests.model.test_extract import _batch


def test_batches_in_two_streams_give_the_numbers_of_one_in_order():
    """Extractor.map with two streams: each batch's results as one stream gives them, in
    the batches' order, and torch's thread count as it was afterwards."""
    model = make_model(["a", "b", "c"], 100, layers=2)
    rng = np.random.default_rng(7)
    batches = [(_batch(rng, rng.integers(2, 40, size=4)), None) for _ in range(9)]
    threads = torch.get_num_threads()
    one = list(Extractor(copy.deepcopy(model), 0, streams=1).map(batches))
    two = Extractor(copy.deepcopy(model), 0, streams=2)
    assert two.streams == 2
    got = list(two.map(batches))
    assert torch.get_num_threads() == threads
    assert len(got) == len(one) == len(batches)
    for (ids, _), a, b in zip(batches, one, got):
        assert [len(x) for x in b.attention] == [len(x) for x in ids]
        np.testing.assert_allclose(b.probabilities, a.probabilities, atol=1e-6)
        for x, y in zip(a.attention, b.attention):
            np.testing.assert_allclose(y, x, atol=1e-6)
        for name in a.stats:
            np.testing.assert_allclose(b.stats[name], a.stats[name], atol=1e-6)


def test_streams_split_torch_threads_and_start_few_batches_ahead(monkeypatch):
    import threading

    from attviz.precompute.extract import streams as S

    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    assert S.resolve_streams("auto", torch.device("cpu")) == 2
    assert S.resolve_streams("auto", torch.device("cuda")) == 1
    assert S.resolve_streams("3", torch.device("cpu")) == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(UserError, match="--streams"):
            S.resolve_streams(bad, torch.device("cpu"))
    with pytest.raises(UserError, match="CPUs"):
        S.resolve_streams(2, torch.device("cuda"))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert S.resolve_streams("auto", torch.device("cpu")) == 1
    monkeypatch.undo()

    before = torch.get_num_threads()
    pulled = []

    def items():
        for i in range(20):
            pulled.append(i)
            yield i

    seen = []

    def fn(i):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return i * i

    gen = S.in_streams(fn, items(), 2)
    assert next(gen) == 0
    assert len(pulled) <= 2 * 2 + 1  # not the whole input at once
    assert list(gen) == [i * i for i in range(1, 20)]
    assert torch.get_num_threads() == before
    assert all(name.startswith("attviz-stream") for name, _ in seen)
    assert {n for _, n in seen} == {max(1, before // 2)}

    def fails(i):
        if i == 3:
            raise ValueError("batch 3")
        return i

    with pytest.raises(ValueError, match="batch 3"):
        list(S.in_streams(fails, range(10), 2))
    assert torch.get_num_threads() == before


def test_streams_change_neither_the_job_nor_the_numbers(tmp_path, tiny_model, big_corpus,
                                                        big_reference):
    """One stream against the reference's default (two on a CPU of two or more threads):
    the same job (a restart may use either) and the same numbers, but for the last bits
    that another thread count may give a matrix product."""
    out = tmp_path / "one.h5"
    assert main(precompute_args(tiny_model, big_corpus, out, batch_size=2, streams=1)) == 0
    with h5py.File(out, "r") as a, h5py.File(big_reference, "r") as b:
        assert a.attrs["job_key"] == b.attrs["job_key"]
        for name in ("/attention/self", "/instances/probabilities"):
            x, y = a[name][:].astype(np.float64), b[name][:].astype(np.float64)
            assert x.shape == y.shape
            np.testing.assert_allclose(x, y, rtol=2e-3, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(a["/tokens/id"][:], b["/tokens/id"][:])
