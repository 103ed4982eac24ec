"""Store errors: one sentence a person can act on, naming the file and HDF5 path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UserError


class StoreError(UserError):
    """A store cannot be read or written as asked. ``str(error)`` is the whole message."""


def from_hdf5(error: BaseException) -> bool:
    """Whether ``error`` is the file's fault: an I/O error, or raised inside h5py (which
    turns HDF5's errors into KeyError, ValueError, RuntimeError, ...). Anything else raised
    while reading is attviz's fault."""
    if isinstance(error, OSError):
        return True
    tb, innermost = error.__traceback__, None
    while tb is not None:
        innermost, tb = tb, tb.tb_next
    if innermost is None:
        return False
    where = innermost.tb_frame.f_code.co_filename.replace("\\", "/")
    return "/h5py/" in where or where.startswith("h5py/")


@contextmanager
def reading(file: object, h5path: str) -> Iterator[None]:
    """Turn a failure of the file inside the block (HDF5 or I/O: :func:`from_hdf5`) into a
    StoreError naming ``h5path`` in ``file``; any other exception (a fault of attviz) keeps
    its type and traceback."""
    try:
        yield
    except StoreError:
        raise
    except Exception as e:
        if not from_hdf5(e):
            raise
        if isinstance(e, KeyError):
            raise StoreError(f"{file}: {h5path} is missing ({e}); "
                             "the store is incomplete or damaged") from None
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"{file}: cannot read {h5path} ({msg}); "
                         "the file may be truncated or damaged") from None
