"""Fixtures of the model tier shared by several test modules."""

import pandas as pd
import pytest

from attviz.cli import main
from attviz.testing import make_documents
from tests.helpers.stores import precompute_args


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory):
    docs = make_documents(240, seed=5, max_words=200)
    p = tmp_path_factory.mktemp("big") / "big.csv"
    pd.DataFrame({"key": [f"k{i}" for i in range(len(docs))], "body": [t for t, _ in docs],
                  "topic": [lab for _, lab in docs]}).to_csv(p, index=False)
    return p


@pytest.fixture(scope="module")
def big_reference(tmp_path_factory, tiny_model, big_corpus):
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    assert main(precompute_args(tiny_model, big_corpus, out, batch_size=2)) == 0
    return out
