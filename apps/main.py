"""attviz explorer: `panel serve apps/ --args --store STORE.h5` (or set ATTVIZ_STORE)."""

from attviz.explore.app import build_app

build_app().servable(title="attviz")
