"""Store errors: one sentence a person can act on, naming the file and HDF5 path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import UserError


class StoreError(UserError):
    """A store cannot be read or written as asked. ``str(error)`` is the whole message."""


@contextmanager
def reading(file: object, h5path: str) -> Iterator[None]:
    """Turn any failure inside the block into a StoreError naming ``h5path`` in ``file``."""
    try:
        yield
    except StoreError:
        raise
    except KeyError as e:
        raise StoreError(f"{file}: {h5path} is missing ({e}); "
                         "the store is incomplete or damaged") from None
    except Exception as e:  # h5py raises OSError, ValueError, RuntimeError, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"{file}: cannot read {h5path} ({msg}); "
                         "the file may be truncated or damaged") from None
