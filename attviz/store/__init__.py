"""The attviz store: the only package that reads or writes HDF5 (format: docs/format.md)."""

from .base import BaseStore, Columns, Instance
from .errors import StoreError
from .format import FORMAT_NAME, FORMAT_VERSION, StoreMeta
from .merge import assemble, index, merge
from .part import Part
from .reader import Store
from .shards import ShardedStore, open_store, shard_name, shard_paths
from .strings import StringArray
from .writer import StoreWriter, temporary_name

__all__ = [
    "BaseStore", "Columns", "Instance", "StoreError", "FORMAT_NAME", "FORMAT_VERSION",
    "StoreMeta", "assemble", "index", "merge", "Part", "Store", "ShardedStore", "open_store",
    "shard_name", "shard_paths", "StringArray", "StoreWriter", "temporary_name",
]
