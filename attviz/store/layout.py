"""The store's datasets in one declarative table (docs/format.md lists exactly these).

Each row says where a dataset lives, its named dimensions, dtype, how it is encoded,
chunked and compressed, which format version introduced it and whether a store must have
it. The writer, the reader's checks, :class:`~attviz.store.part.Part`, the folder-of-shards
reader and merges iterate over this table; adding an optional dataset in a minor format
version is one row here plus the code that computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import dims

# Per token
ATTENTION = "/attention/self"
TOKEN_ID = "/tokens/id"
TOKEN_SPAN = "/tokens/span"
TOKEN_SPECIAL = "/tokens/special"
# Per instance
TOKEN_START = "/instances/token_start"
LABEL = "/instances/label"
PREDICTION = "/instances/prediction"
PROBABILITIES = "/instances/probabilities"
DOCUMENT = "/instances/document"
SEGMENT = "/instances/segment"
TEXT = "/instances/text"  # string array group
# Per document
DOCUMENT_ID = "/documents/id"  # string array group
DOCUMENT_ROW = "/documents/row"
# Vocabulary
VOCAB_TOKEN = "/vocab/token"  # string array group, index = token id
# Statistics per instance and head (1.1)
HEAD_STATS = "/instances/head_stats"
SELF_MEAN = HEAD_STATS + "/self_mean"
SELF_MAX = HEAD_STATS + "/self_max"
SELF_ARGMAX = HEAD_STATS + "/self_argmax"
FIRST_MASS = HEAD_STATS + "/first_mass"
LAST_MASS = HEAD_STATS + "/last_mass"
ENTROPY = HEAD_STATS + "/entropy"
IMPORTANCE = HEAD_STATS + "/importance"  # 1.2, from precompute --importance
# Corpus profiles per group of instances (1.1)
GROUP_KEY = "/profiles/group/key"
GROUP_COUNT = "/profiles/group/count"
GROUP_HEAD_SUM = "/profiles/group/head_stats"  # group of sums, one dataset per statistic
POSITION_MEAN = "/profiles/position/mean"
POSITION_COUNT = "/profiles/position/count"
TOKEN_GROUP_START = "/profiles/token/group_start"
TOKEN_PROFILE_ID = "/profiles/token/id"
TOKEN_MEAN = "/profiles/token/mean"
TOKEN_COUNT = "/profiles/token/count"
# Token index (1.1)
INDEX_OFFSETS = "/index/token/offsets"
INDEX_INSTANCES = "/index/token/instances"
INDEX_OCCURRENCE_OFFSETS = "/index/token/occurrence_offsets"  # 1.2
INDEX_OCCURRENCES = "/index/token/occurrences"  # 1.2
# The tokenizer (1.1)
TOKENIZER_JSON = "/tokenizer/json"

# Encodings
ARRAY = "array"  # one HDF5 dataset, rows along the first dimension
OFFSETS = "offsets"  # CSR offsets (rows + 1 entries, from 0), held in a Part as row counts
STRINGS = "string-array"  # a group of `data` (UTF-8 bytes) and `offsets` (rows + 1)

# How a dataset of several parts or stores is combined
APPEND = "append"  # rows of the next part follow those of the one before
ONCE = "once"  # written once per store (e.g. the vocabulary); every source has the same
DERIVED = "derived"  # computed from the rows when a store is completed (never in blocks)

# Chunking (reasoning and measurements in docs/format.md)
COLUMN_CHUNK = 65536  # entries per chunk of 1-d per-token / per-instance datasets
STRING_CHUNK = 1 << 18  # bytes per chunk of string data (a few hundred texts)
TEXT_CHUNK = 1 << 15  # bytes per chunk of the instances' texts (read scattered by searches)
ATTENTION_CHUNK_BYTES = 160 * 1024  # at most 160 KiB per chunk (1024 rows at 6 x 12 float16)


def attention_chunk_rows(num_layers: int, num_heads: int, itemsize: int = 2) -> int:
    """Token rows per attention chunk: a power of two near ATTENTION_CHUNK_BYTES."""
    per_row = max(1, num_layers * num_heads * itemsize)
    rows = 1
    while rows * 2 * per_row <= ATTENTION_CHUNK_BYTES:
        rows *= 2
    return rows


def even_chunk_rows(rows: int, most: int) -> int:
    """Rows per chunk of a table of ``rows`` rows written whole, at most ``most``: its chunks
    made as even as they can be, so that the last one (stored whole where unfiltered) is
    nearly full."""
    most = max(1, min(rows, most))
    return -(-rows // -(-rows // most)) if rows else most


@dataclass(frozen=True)
class Dataset:
    """One row of the layout table.

    path: HDF5 path (a group for string arrays); dims: named dimensions, the first one
    the rows; dtype: numpy dtype name (None for string arrays, and for datasets stored as
    float16 or as 8-bit codes); field: the attribute of a Part (and, for ``in_memory`` rows,
    of Columns: the path's last name) that holds it, or None; chunk_rows: rows per chunk
    (None: from the layers and heads); shift: a dimension whose size in earlier parts is
    added to the values when parts are joined (indices into it); in_memory: read whole when
    a store opens; log8: float16, or 8-bit logarithmic codes in a store of ``--precision 8``
    (:mod:`.codec`); entropy_only: single tokens' self-attention values, in which LZ finds
    no repeats (gzip codes them with Huffman codes alone, lzf leaves them unfiltered). Every
    dataset is compressed as the writer is asked (:func:`.codec.filters`).
    """

    path: str
    dims: tuple[str, ...]
    dtype: str | None
    field: str | None
    meaning: str
    encoding: str = ARRAY
    combine: str = APPEND
    chunk_rows: int | None = COLUMN_CHUNK
    since: str = "1.0"
    required: bool = True
    shift: str | None = None
    in_memory: bool = False
    column_chunks: bool = False  # chunks of (rows, 1, heads): one layer's heads over many rows
    log8: bool = False
    entropy_only: bool = False

    @property
    def rows(self) -> str:
        """The dimension along which the dataset grows."""
        return self.dims[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def dims_attr(self) -> list[str] | None:
        """The ``dims`` attribute written on the HDF5 dataset (none on string groups)."""
        if self.encoding == STRINGS:
            return None
        if self.encoding == OFFSETS:
            return [f"{self.rows} + 1"]
        return list(self.dims)

    def chunks(self, num_layers: int, num_heads: int, itemsize: int = 2) -> int:
        return self.chunk_rows or attention_chunk_rows(num_layers, num_heads, itemsize)


_IHL = (dims.INSTANCES, dims.LAYERS, dims.HEADS)
_STAT = dict(since="1.1", required=False, column_chunks=True)
_DERIVED = dict(combine=DERIVED, since="1.1", required=False, chunk_rows=None)

LAYOUT: tuple[Dataset, ...] = (
    Dataset(ATTENTION, (dims.TOKENS, dims.STORED_LAYERS, dims.HEADS), None, "attention",
            "A[l, h, i, i]: the self-attention of token i in every stored layer and head "
            "(float16, or uint8 log8 codes)", chunk_rows=None, log8=True, entropy_only=True),
    Dataset(TOKEN_ID, (dims.TOKENS,), "int32", "token_id",
            "the input ids fed to the model, in order, special tokens included"),
    Dataset(TOKEN_SPAN, (dims.TOKENS, dims.SPAN), "int32", "span",
            "character offsets [start, end) of the token in its instance's text",
            chunk_rows=COLUMN_CHUNK // 2),
    Dataset(TOKEN_SPECIAL, (dims.TOKENS,), "bool", "special",
            "true for the tokenizer's special tokens"),
    Dataset(TOKEN_START, (dims.INSTANCES,), "int64", "token_count",
            "CSR offsets: instance k owns token rows token_start[k]:token_start[k+1]",
            encoding=OFFSETS, in_memory=True),
    Dataset(LABEL, (dims.INSTANCES,), "int16", "label", "gold class index; -1 where unknown",
            in_memory=True),
    Dataset(PREDICTION, (dims.INSTANCES,), "int16", "prediction", "argmax class index",
            in_memory=True),
    Dataset(PROBABILITIES, (dims.INSTANCES, dims.CLASSES), "float32", "probabilities",
            "softmax of the logits", chunk_rows=COLUMN_CHUNK // 8, in_memory=True),
    Dataset(DOCUMENT, (dims.INSTANCES,), "int64", "document",
            "index into the documents tables", shift=dims.DOCUMENTS, in_memory=True),
    Dataset(SEGMENT, (dims.INSTANCES,), "int32", "segment",
            "index of the window within its document, from 0", in_memory=True),
    Dataset(TEXT, (dims.INSTANCES,), None, "text", "the text the instance covers",
            encoding=STRINGS, chunk_rows=TEXT_CHUNK),
    Dataset(DOCUMENT_ID, (dims.DOCUMENTS,), None, "document_ids", "the document id",
            encoding=STRINGS, chunk_rows=STRING_CHUNK),
    Dataset(DOCUMENT_ROW, (dims.DOCUMENTS,), "int64", "document_row",
            "the document's row in the corpus file, 0 = the first data row"),
    Dataset(VOCAB_TOKEN, (dims.VOCAB,), None, None,
            "the tokenizer's string for each token id, index = id",
            encoding=STRINGS, combine=ONCE, chunk_rows=None),
    # -- 1.1: statistics per instance and head -----------------------------------------------
    Dataset(SELF_MEAN, _IHL, "float16", "self_mean",
            "mean of A[l, h, i, i] over the instance's non-special tokens (all if none)",
            **_STAT),
    Dataset(SELF_MAX, _IHL, "float16", "self_max",
            "largest A[l, h, i, i] over the same tokens", **_STAT),
    Dataset(SELF_ARGMAX, _IHL, "int16", "self_argmax",
            "its token position i in the instance (special tokens counted)", **_STAT),
    Dataset(FIRST_MASS, _IHL, "float16", "first_mass",
            "mean over the instance's query tokens i of A[l, h, i, 0] (model runs only)", **_STAT),
    Dataset(LAST_MASS, _IHL, "float16", "last_mass",
            "mean over query tokens i of A[l, h, i, n - 1] (model runs only)", **_STAT),
    Dataset(ENTROPY, _IHL, "float16", "entropy",
            "mean over query tokens of the row entropy / log(n) (precompute --entropy)", **_STAT),
    # -- 1.2: head importance (precompute --importance) ---------------------------------------
    Dataset(IMPORTANCE, _IHL, "float16", "importance",
            "dL/dg at g = 1, g a gate on the head's attention context before the output "
            "projection, L the cross-entropy of the gold label (the predicted one where none)",
            **{**_STAT, "since": "1.2"}),
    # -- 1.1: corpus profiles per group of instances -----------------------------------------
    Dataset(GROUP_KEY, (dims.GROUPS, dims.KEY), "int16", None,
            "(gold, predicted), or (gold, correct) with more than 400 cells; gold -1: unlabelled, "
            "grouped by prediction", **_DERIVED),
    Dataset(GROUP_COUNT, (dims.GROUPS,), "int64", None, "instances in the group", **_DERIVED),
    Dataset(GROUP_HEAD_SUM + "/<statistic>", (dims.GROUPS, dims.LAYERS, dims.HEADS), "float64",
            None, "sum over the group's instances of each statistic of /instances/head_stats",
            **_DERIVED),
    Dataset(POSITION_MEAN, (dims.GROUPS, dims.POSITIONS, dims.LAYERS, dims.HEADS), "float16",
            None, "mean of A[l, h, i, i] over the group's tokens at position i", log8=True,
            **_DERIVED),
    Dataset(POSITION_COUNT, (dims.GROUPS, dims.POSITIONS), "int64", None,
            "tokens of the group at each position", **_DERIVED),
    Dataset(TOKEN_GROUP_START, (dims.GROUPS,), "int64", None,
            "CSR offsets: group g owns entries group_start[g]:group_start[g+1]",
            encoding=OFFSETS, **_DERIVED),
    Dataset(TOKEN_PROFILE_ID, (dims.ENTRIES,), "int32", None,
            "the token id of each entry, ascending within a group", **_DERIVED),
    Dataset(TOKEN_MEAN, (dims.ENTRIES, dims.LAYERS, dims.HEADS), "float16", None,
            "mean of A[l, h, i, i] over the group's tokens with that id", log8=True,
            entropy_only=True, **_DERIVED),
    Dataset(TOKEN_COUNT, (dims.ENTRIES,), "int64", None,
            "tokens of the group with that id", **_DERIVED),
    # -- 1.1: token index and tokenizer -------------------------------------------------------
    Dataset(INDEX_OFFSETS, (dims.VOCAB,), "int64", None,
            "CSR offsets: the instances holding token id v are instances[offsets[v]:offsets[v+1]]",
            encoding=OFFSETS, **_DERIVED),
    Dataset(INDEX_INSTANCES, (dims.POSTINGS,), "uint32", None,
            "sorted instance numbers per token id, each once (int64 from 2^32 instances)",
            **_DERIVED),
    # -- 1.2: where each token occurs (phrases without reading texts) -------------------------
    Dataset(INDEX_OCCURRENCE_OFFSETS, (dims.VOCAB,), "int64", None,
            "CSR offsets: the token rows holding token id v are "
            "occurrences[occurrence_offsets[v]:occurrence_offsets[v+1]]",
            encoding=OFFSETS, **{**_DERIVED, "since": "1.2"}),
    Dataset(INDEX_OCCURRENCES, (dims.OCCURRENCES,), "uint32", None,
            "ascending token rows (indices into /tokens/id) per token id (int64 from 2^32 "
            "tokens)", **{**_DERIVED, "since": "1.2"}),
    Dataset(TOKENIZER_JSON, (dims.BYTES,), "uint8", None,
            "the bytes of the tokenizer's tokenizer.json (to tokenize queries)",
            combine=ONCE, since="1.1", required=False, chunk_rows=STRING_CHUNK),
)

BY_PATH = {d.path: d for d in LAYOUT}
APPENDED = tuple(d for d in LAYOUT if d.combine == APPEND)
PART_FIELDS = tuple(d for d in APPENDED if d.field)
IN_MEMORY = tuple(d for d in LAYOUT if d.in_memory)
HEAD_STAT_ROWS = tuple(d for d in APPENDED if d.path.startswith(HEAD_STATS + "/"))
HEAD_STAT_NAMES = tuple(d.name for d in HEAD_STAT_ROWS)
# from the stored diagonals alone (also for stores written without a model run)
SELF_STAT_NAMES = ("self_mean", "self_max", "self_argmax")
# what only a model run gives, and the precompute option that adds it
MODEL_STAT_OPTIONS = {"first_mass": "", "last_mass": "", "entropy": "--entropy",
                      "importance": "--importance"}


def how_to_add(statistic: str) -> str:
    """How a store that lacks ``statistic`` gets it, as the end of a sentence."""
    if statistic in MODEL_STAT_OPTIONS:
        option = MODEL_STAT_OPTIONS[statistic]
        return ("it needs the model: precompute the corpus again"
                + (f" with {option}" if option else "") + " (`attviz index` cannot add it)")
    return "add it with `attviz index STORE`"


def fixed_sizes(num_layers: int, num_heads: int, num_classes: int,
                stored_layers: int | None = None) -> dict[str, int]:
    """Sizes of the dimensions that are the same in every part of one store."""
    return {dims.LAYERS: num_layers, dims.HEADS: num_heads, dims.CLASSES: num_classes,
            dims.SPAN: 2,
            dims.STORED_LAYERS: num_layers if stored_layers is None else stored_layers}


def version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = str(text).partition(".")
    return int(major), int(minor or 0)
