"""Per-token computations on an instance's self-attention: aggregates over heads and the
grouping of subword tokens into words. numpy only."""
