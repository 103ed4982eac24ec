"""How values are encoded in a store: the 8-bit logarithmic code of self-attention
(``--precision 8``), and the compression filters of the datasets (docs/format.md).

The 8-bit code (``encoding-type = "log8"``) stores a value v in [0, 1] as one byte:

    c = 0                                      where v < FLOOR (1e-6)
    c = min(255, 1 + floor(ln(v / FLOOR) / STEP))   otherwise, STEP = ln(1 / FLOOR) / 255

and decodes byte c to 0 (c = 0) or to the geometric middle of its interval,
FLOOR * exp((c - 0.5) * STEP). Each of the 255 intervals spans a factor exp(STEP) = 1.0557,
so a decoded value is within 2.75% of the encoded one for v >= FLOOR and within FLOOR of it
below. A linear byte cannot do this: its step of 1/255 is larger than most attention
values.
"""

from __future__ import annotations

import math

import numpy as np

LOG8 = "log8"
LOG8_VERSION = "1.0"
FLOOR = 1e-6
CODES = 256
STEP = math.log(1.0 / FLOOR) / (CODES - 1)
RELATIVE_ERROR = math.exp(STEP / 2) - 1  # 0.0275: the largest relative error above FLOOR

PRECISIONS = (16, 8)  # bits per stored self-attention value


def _table() -> np.ndarray:
    c = np.arange(CODES, dtype=np.float64)
    out = FLOOR * np.exp((c - 0.5) * STEP)
    out[0] = 0.0
    return out.astype(np.float32)


DECODE = _table()  # [256] float32: the value of each code
DECODE.setflags(write=False)


def encode_log8(values: np.ndarray) -> np.ndarray:
    """``values`` (any float dtype, in [0, 1]; above 1 counts as 1) as log8 codes (uint8,
    same shape). NaN and values below FLOOR become 0. Worked in float32 in blocks (a
    value within 1e-6 of an interval's edge may land in the neighbouring interval: 2.75%
    becomes at most 2.76%)."""
    v = np.asarray(values)
    flat = v.reshape(-1)
    out = np.zeros(flat.shape, np.uint8)
    scale, shift = np.float32(1 / STEP), np.float32(-math.log(FLOOR) / STEP)
    for a in range(0, len(flat), _BLOCK):
        x = flat[a : a + _BLOCK].astype(np.float32)
        big = x >= FLOOR
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.floor(np.log(np.where(big, x, 1)) * scale + shift) + 1
        out[a : a + _BLOCK] = np.where(big, np.clip(c, 1, CODES - 1), 0)
    return out.reshape(v.shape)


_BLOCK = 1 << 20  # values encoded at a time


def decode_log8(codes: np.ndarray) -> np.ndarray:
    """log8 codes (uint8) as float32 values, same shape."""
    return DECODE[np.asarray(codes, dtype=np.uint8)]


def is_log8(attrs) -> bool:
    """Whether a dataset with attributes ``attrs`` holds log8 codes."""
    value = attrs.get("encoding-type", "")
    if isinstance(value, bytes):
        value = value.decode()
    return value == LOG8


def log8_attrs() -> dict[str, str]:
    """The attributes written on a dataset of log8 codes."""
    return {"encoding-type": LOG8, "encoding-version": LOG8_VERSION}


def to_float(values: np.ndarray) -> np.ndarray:
    """Stored values as float32: log8 codes (uint8) decoded, floats cast."""
    values = np.asarray(values)
    if values.dtype == np.uint8:
        return decode_log8(values)
    return values.astype(np.float32, copy=False)


def convert(values: np.ndarray, precision: int) -> np.ndarray:
    """Self-attention values (float, or log8 codes) as a store of ``precision`` keeps them:
    float16 (16) or log8 codes (8). Encode from float32 where there is a choice: float16
    loses more than 3% below 6e-5."""
    values = np.asarray(values)
    if precision == 8:
        return values if values.dtype == np.uint8 else encode_log8(values)
    return values if values.dtype == np.float16 else to_float(values).astype(np.float16)


def parse_precision(value) -> int:
    """``--precision`` as 16 or 8; ValueError otherwise."""
    try:
        bits = int(value)
    except (TypeError, ValueError):
        bits = -1
    if bits not in PRECISIONS:
        raise ValueError(f"--precision {value}: choose 16 (float16, the default) or 8 (one "
                         "byte per value, logarithmic: within 2.75% of the value)")
    return bits


# -- compression ------------------------------------------------------------------------------
# How datasets are compressed (measured in docs/benchmarks.md, "Store size"): ZSTD, the
# default, is Blosc2 with Zstandard (level 1) after a byte shuffle for numbers of two bytes
# or more (float16 self-attention: 0.83 of its size, where HDF5's own filters reach 0.85 at
# a fifth of the speed), and HDF5's Zstandard filter (level 1) for bytes (texts, the
# tokenizer, 8-bit codes). Both come with the ``hdf5plugin`` package; a reader must
# ``import hdf5plugin`` before h5py reads them. The others are HDF5's own filters, for
# readers without hdf5plugin. Single tokens' self-attention values (the layout's
# ``entropy_only``) hold no repeats for LZ to find: LZF leaves them as they are (1.000 of
# their size, float16 or 8-bit), so a store of lzf keeps them unfiltered, and gzip codes
# them with Huffman codes alone (0.834 of their size, against 0.836 with LZ matching at a
# third of the speed; :mod:`.sink`).
ZSTD, GZIP, LZF, NONE = "zstd", "gzip", "lzf", "none"
GZIP_LEVEL = 4  # deflate level (docs/format.md: float16 diagonals to 0.850; level 1: 0.860)
COMPRESSIONS = (ZSTD, GZIP, LZF, NONE)


def _plugins():
    import hdf5plugin

    return hdf5plugin


def filters(compression: str, dtype, entropy_only: bool = False) -> dict:
    """h5py ``create_dataset`` keyword arguments that compress data of ``dtype``
    (``entropy_only``: single tokens' self-attention values, unfiltered with lzf)."""
    size = np.dtype(dtype).itemsize
    if compression == NONE or (compression == LZF and entropy_only):
        return {}
    if compression == LZF:
        return {"compression": "lzf", "shuffle": size > 1}
    if compression == GZIP:
        return {"compression": "gzip", "compression_opts": GZIP_LEVEL, "shuffle": size > 1}
    if compression != ZSTD:
        raise ValueError(f"--compression {compression}: choose one of {', '.join(COMPRESSIONS)}")
    plugins = _plugins()
    if size == 1:
        return dict(plugins.Zstd(clevel=1))
    blosc2 = plugins.Blosc2
    return dict(blosc2(cname="zstd", clevel=1, filters=blosc2.SHUFFLE))


def register_filters() -> None:
    """Make the compression filters of hdf5plugin known to h5py (readers call this before
    opening a store; without the package, stores compressed by it cannot be read)."""
    try:
        _plugins()
    except ImportError:  # pragma: no cover - hdf5plugin is a dependency
        pass
