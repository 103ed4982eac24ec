"""The dimension names used everywhere: in code, in HDF5 ``dims`` attributes, in docs.

Shapes in docstrings are written with these names, e.g. ``attention: [tokens, layers, heads]``.
"""

INSTANCES = "instances"  # one segment (window) of a document: one model input
TOKENS = "tokens"  # all tokens of all instances, concatenated in instance order
LAYERS = "layers"  # transformer layers, input side first
STORED_LAYERS = "stored_layers"  # the layers whose diagonals a store holds (their model layer
# numbers: the root attribute stored_layers)
HEADS = "heads"  # attention heads of one layer
CLASSES = "classes"  # the classifier's labels, index = class id
DOCUMENTS = "documents"  # rows of the corpus that produced at least one instance
SPAN = "span"  # [start, end) character offsets, size 2
BYTES = "bytes"  # UTF-8 bytes of a concatenated string array
VOCAB = "vocab"  # token ids of the tokenizer's vocabulary
GROUPS = "groups"  # groups of instances for corpus profiles: confusion cells (docs/format.md)
KEY = "key"  # 2: what identifies a group, (gold, predicted) or (gold, correct)
POSITIONS = "positions"  # token positions within an instance, from 0
ENTRIES = "entries"  # (group, token id) pairs that occur, grouped by group
POSTINGS = "postings"  # (token id, instance) pairs of the token index, grouped by token id
OCCURRENCES = "occurrences"  # (token id, token row) pairs of the token index, grouped by token id
