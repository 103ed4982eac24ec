"""The explorer: the page a browser session sees, along the data path store -> filter ->
views (stores.py, catalog.py -> filters.py, state.py -> views/)."""
