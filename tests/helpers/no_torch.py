"""A pytest plugin (``-p tests.helpers.no_torch``) that makes torch and transformers impossible
to import, as on a viewer-only install: ``-m "not model"`` must pass with it."""

import sys

for _name in ("torch", "transformers"):
    sys.modules[_name] = None  # an import now raises ImportError
