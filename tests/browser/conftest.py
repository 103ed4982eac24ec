"""Fixtures of the browser tier: a store root whose corpus strings carry HTML."""

from __future__ import annotations

import shutil

import h5py
import pandas as pd
import pytest

from tests.helpers.browser import XSS_ID, XSS_LABELS, XSS_TEXT


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory, tiny_store, odd_label_store):
    """A folder with a store whose corpus, ids and labels carry HTML, one whose label names
    contain the cell arrow, digits and spaces, and broken stores."""
    from attviz.cli import main
    from attviz.testing import save_tiny_classifier

    root = tmp_path_factory.mktemp("hostile")
    model = save_tiny_classifier(root.parent / "hostile-model", XSS_LABELS)
    corpus = root.parent / "hostile.csv"
    pd.DataFrame({"id": [XSS_ID, "plain"], "text": [XSS_TEXT, "the match ended"],
                  "label": [XSS_LABELS[1], XSS_LABELS[0]]}).to_csv(corpus, index=False)
    assert main(["precompute", "--model", str(model), "--data", str(corpus), "--out",
                 str(root / "xss.h5"), "--label-column", "label", "--id-column", "id",
                 "--no-progress"]) == 0
    shutil.copy(tiny_store, root / "good.h5")
    shutil.copy(odd_label_store, root / "odd.h5")
    data = tiny_store.read_bytes()
    (root / "broken.h5").write_bytes(data[: len(data) // 3])
    shutil.copy(tiny_store, root / "future.h5")
    with h5py.File(root / "future.h5", "a") as f:
        f.attrs["format_version"] = "7.0"
    return root
