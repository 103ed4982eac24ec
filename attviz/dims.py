"""The dimension names used everywhere: in code, in HDF5 ``dims`` attributes, in docs.

Shapes in docstrings are written with these names, e.g. ``attention: [tokens, layers, heads]``.
"""

INSTANCES = "instances"  # one segment (window) of a document: one model input
TOKENS = "tokens"  # all tokens of all instances, concatenated in instance order
LAYERS = "layers"  # transformer layers, input side first
HEADS = "heads"  # attention heads of one layer
CLASSES = "classes"  # the classifier's labels, index = class id
DOCUMENTS = "documents"  # rows of the corpus that produced at least one instance
SPAN = "span"  # [start, end) character offsets, size 2
BYTES = "bytes"  # UTF-8 bytes of a concatenated string array
VOCAB = "vocab"  # token ids of the tokenizer's vocabulary
