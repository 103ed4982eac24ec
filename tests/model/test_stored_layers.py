"""`--precision 8` and `--layers` against transformers' eager maps, for several model
families, and a store of some layers through every reader (API, export, CSV, verify)."""

import json

import numpy as np
import pytest
import torch

import attviz
from attviz.cli import main
from attviz.explore.viewdata import instance_csv
from attviz.store import Store
from attviz.testing import save_tiny_classifier
from tests.helpers.stores import precompute_args

# (family, model options): GQA (Llama), a sliding window shorter than the windows (Mistral),
# local attention in two of three layers (ModernBERT)
FAMILIES = {
    "bert": dict(layers=3),
    "llama-gqa": dict(family="llama", layers=3, kv_heads=2),
    "mistral-sliding": dict(family="mistral", layers=3, kv_heads=2, window=6),
    "modernbert-local": dict(family="modernbert", layers=3, window=6),
}


def _eager(model_dir, ids) -> np.ndarray:
    """[tokens, layers, heads] diagonals of transformers' eager maps (float64)."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        maps = model(input_ids=torch.tensor(ids, dtype=torch.long)[None],
                     output_attentions=True).attentions
    return np.stack([np.diagonal(a[0].double().numpy(), axis1=-2, axis2=-1)
                     for a in maps]).transpose(2, 0, 1)


def _within_code(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(largest relative error where eager >= 1e-6, largest absolute error below)."""
    big = want >= 1e-6
    err = np.abs(got.astype(np.float64) - want)
    return (float((err[big] / want[big]).max(initial=0)), float(err[~big].max(initial=0)))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_8bit_values_of_stored_layers_are_within_the_bound_of_eager(family, tmp_path,
                                                                    tiny_corpus):
    model = save_tiny_classifier(tmp_path / "m", **FAMILIES[family])
    out = tmp_path / "s.h5"
    assert main(precompute_args(model, tiny_corpus, out, precision=8)
                + ["--layers=-2-"]) == 0
    worst_rel = worst_abs = 0.0
    with Store(out) as s:
        assert s.meta.layers == [1, 2] and s.precision == 8
        for inst in s.read_instances(np.arange(0, s.n_instances, 3)):
            want = _eager(model, inst.token_ids)[:, [1, 2]]
            rel, ab = _within_code(inst.attention, want)
            worst_rel, worst_abs = max(worst_rel, rel), max(worst_abs, ab)
    assert worst_rel <= 0.03 and worst_abs <= 1e-6, (worst_rel, worst_abs)
    assert main(["verify", str(out), "--sample", "10"]) == 0


@pytest.fixture(scope="module")
def some_layers(tmp_path_factory, tiny_corpus):
    """A 3-layer BERT classifier precomputed twice: every layer, and layers 0 and 2."""
    d = tmp_path_factory.mktemp("some")
    model = save_tiny_classifier(d / "m", layers=3)
    full, some = d / "full.h5", d / "some.h5"
    assert main(precompute_args(model, tiny_corpus, full)) == 0
    assert main(precompute_args(model, tiny_corpus, some, layers="0,2")) == 0
    return model, full, some


def test_some_layers_through_the_api(some_layers):
    _, full, some = some_layers
    with attviz.open(full) as a, attviz.open(some) as b:
        assert b.layers == [0, 2] and a.layers == [0, 1, 2]
        x, y = a.attention(5), b.attention(5)
        assert y.coords["layers"].values.tolist() == [0, 2]
        np.testing.assert_array_equal(y.sel(layers=2).values, x.sel(layers=2).values)
        with pytest.raises(KeyError):
            y.sel(layers=1)
        assert "stored: 0, 2" in repr(b)


def test_some_layers_through_export_csv_info_and_verify(some_layers, tmp_path, capsys):
    _, full, some = some_layers
    js = tmp_path / "a.json"
    assert main(["export-attviz", str(some), "--out", str(js), "--limit", "2"]) == 0
    doc = json.loads(js.read_text())[0]
    assert [s["name"] for s in doc["sets"]] == ["layer 0", "layer 2"]
    with Store(some) as s, Store(full) as f:
        inst, whole = s.read_instance(4), f.read_instance(4)
        np.testing.assert_array_equal(whole.attention[:, 2], inst.attention[:, 1])
        first = s.read_instance(0)
        np.testing.assert_allclose(doc["sets"][1]["attention_vectors"][0]["vectors"],
                                   first.attention[:, 1, 0], rtol=1e-4)
        header = instance_csv(inst, 2).getvalue().splitlines()[0].split(",")
        assert "L2H3" in header and "L1H0" not in header and "mean (layer 2)" in header
        # a layer not stored: the nearest stored one (the lower of two as near)
        assert "mean (layer 0)" in instance_csv(inst, 1).getvalue().splitlines()[0]
    assert main(["info", str(some)]) == 0
    assert "diagonals of layers 0, 2, float16" in capsys.readouterr().out
    assert main(["verify", str(some)]) == 0
    assert "layers 0,2:" in capsys.readouterr().out


def test_statistics_and_profiles_cover_every_layer(some_layers):
    _, full, some = some_layers
    with Store(full) as a, Store(some) as b:
        for name in a.head_stat_names:
            np.testing.assert_array_equal(a.read_head_stat(name), b.read_head_stat(name))
        pa, pb = a.profiles(), b.profiles()
        np.testing.assert_array_equal(pa.token_count, pb.token_count)
        np.testing.assert_allclose(pb.token_sum, pa.token_sum, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(pb.position_sum, pa.position_sum, rtol=1e-3, atol=1e-6)


def test_a_bad_layer_spec_is_named_before_the_model_loads(tiny_model, tiny_corpus, tmp_path,
                                                          capsys):
    out = tmp_path / "x.h5"
    assert main(precompute_args(tiny_model, tiny_corpus, out, layers="0,9")) == 2
    err = capsys.readouterr().err
    assert "--layers 0,9: layer 9 is not in 0..1" in err and not out.exists()
    assert main(precompute_args(tiny_model, tiny_corpus, out, layers="one")) == 2
    assert "'one' is not a layer or a range of layers" in capsys.readouterr().err
