"""What the tests share: paths and tiers (:mod:`.paths`), waiting (:mod:`.waiting`), stores
(:mod:`.stores`, :mod:`.raw`), servers (:mod:`.served`, :mod:`.lab`), the browser
(:mod:`.browser`), a protocol-level client (:mod:`.wsclient`), a local SLURM cluster
(:mod:`.slurm`) and the pause of a precompute at a known block (:mod:`.pausing`). Test
modules import from here, never from each other."""
