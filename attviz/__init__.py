"""attviz: precompute and explore per-head self-attention of transformer classifiers.

In a notebook: ``attviz.open(path)`` reads a store, ``attviz.explorer(path)`` shows the
explorer inline (see :mod:`attviz.api`).
"""

from .version import __version__

__all__ = ["__version__", "explorer", "open"]


def open(path):  # noqa: A001 - the notebook entry point, attviz.open(path)
    """Open a store file, or a folder of shard stores, read-only
    (:class:`attviz.api.StoreReader`)."""
    from .api import open as _open

    return _open(path)


def explorer(path, root=None):
    """The explorer of the store at ``path`` as a Panel object (inline in Jupyter)."""
    from .api import explorer as _explorer

    return _explorer(path, root)
