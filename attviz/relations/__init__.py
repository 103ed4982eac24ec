"""Relations of the selected instance, computed on demand by re-running the store's model:
token x token attention, attention rollout and gradient-weighted attention rollout.

``rollout`` (numpy) combines per-layer maps into token scores; ``models`` finds and loads
the store's model; ``compute`` runs it on one instance (torch); ``service`` runs requests
in one worker thread per server process. Importing this package loads no torch.
"""
