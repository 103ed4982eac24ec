"""The 8-bit logarithmic code, the compression filters and the --layers spec."""

import math

import h5py
import numpy as np
import pytest

from attviz.errors import UserError
from attviz.precompute.layerspec import resolve
from attviz.store import codec


def test_the_code_is_what_docs_format_md_defines():
    """Byte c decodes to 0 or to 1e-6 * exp((c - 0.5) * ln(1e6) / 255), in float32."""
    step = math.log(1e6) / 255
    want = [0.0] + [1e-6 * math.exp((c - 0.5) * step) for c in range(1, 256)]
    np.testing.assert_array_equal(codec.decode_log8(np.arange(256, dtype=np.uint8)),
                                  np.array(want, dtype=np.float32))
    # every code encodes back to itself, so copying a store (merge, index) keeps its bytes
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(codec.encode_log8(codec.decode_log8(codes)), codes)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bound_relative_above_the_floor_absolute_below(dtype):
    rng = np.random.default_rng(0)
    v = np.exp(rng.uniform(math.log(1e-9), 0.0, 200_000)).astype(dtype)
    v = np.concatenate([v, np.array([0.0, 1e-6, 1.0, 0.999999, 1e-6 * 1.0001], dtype)])
    got = codec.decode_log8(codec.encode_log8(v)).astype(np.float64)
    v = v.astype(np.float64)
    big = v >= 1e-6
    assert np.max(np.abs(got[big] - v[big]) / v[big]) <= codec.RELATIVE_ERROR + 1e-5
    assert codec.RELATIVE_ERROR < 0.03
    assert np.max(np.abs(got[~big] - v[~big])) <= 1e-6
    # a linear byte could not: its step of 1/255 exceeds typical attention values
    assert 1 / 255 > 0.0039


def test_nan_and_values_above_one():
    codes = codec.encode_log8(np.array([np.nan, 1.5, -0.1, 0.0]))
    assert codes.tolist() == [0, 255, 0, 0]


def test_convert_between_precisions():
    v = np.array([0.5, 1e-3, 2e-7], np.float32)
    eight = codec.convert(v, 8)
    assert eight.dtype == np.uint8 and codec.convert(eight, 8) is eight
    back = codec.convert(eight, 16)
    assert back.dtype == np.float16
    np.testing.assert_allclose(back[:2], v[:2], rtol=0.03)
    with pytest.raises(ValueError, match="choose 16"):
        codec.parse_precision(12)


@pytest.mark.parametrize("name", codec.COMPRESSIONS)
def test_every_compression_reads_back(tmp_path, name):
    data = {"f16": np.random.default_rng(1).random((4096, 6)).astype(np.float16),
            "bytes": np.frombuffer(b"attention " * 5000, np.uint8),
            "ints": np.arange(50_000, dtype=np.int64)}
    with h5py.File(tmp_path / "x.h5", "w") as f:
        for key, value in data.items():
            f.create_dataset(key, data=value, chunks=(1024, *value.shape[1:]),
                             **codec.filters(name, value.dtype))
    with h5py.File(tmp_path / "x.h5", "r") as f:
        for key, value in data.items():
            np.testing.assert_array_equal(f[key][:], value)
            if name != codec.NONE and key != "f16":
                assert f[key].id.get_storage_size() < value.nbytes / 2


@pytest.mark.parametrize("spec,want", [
    ("0,5,11", [0, 5, 11]), ("0-3", [0, 1, 2, 3]), ("-4-", [8, 9, 10, 11]),
    ("6-", [6, 7, 8, 9, 10, 11]), ("-1", [11]), ("-4--2", [8, 9, 10]),
    ("0-1,-2-", [0, 1, 10, 11]), ("3,3,1", [1, 3]), ("0-11", None), ("all", None), (None, None),
])
def test_layer_specs(spec, want):
    assert resolve(spec, 12) == want


@pytest.mark.parametrize("spec,message", [
    ("x", "'x' is not a layer or a range"), ("0,12", "layer 12 is not in 0..11"),
    ("-13", "layer -13 is not in"), ("5-2", "the range 5-2 is empty"),
    ("1-2-3", "is not a layer or a range"), ("1,,2", "'' is not a layer"),
])
def test_bad_layer_specs_are_one_line_errors(spec, message):
    with pytest.raises(UserError, match=message) as e:
        resolve(spec, 12)
    assert "\n" not in str(e.value) and str(e.value).startswith(f"--layers {spec}:")
