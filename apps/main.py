"""attviz explorer: `panel serve apps/ --args --store STORE.h5` (or set ATTVIZ_STORE).

The page's user and their stores come from the lab server's sign-in (`attviz serve`); served
without it, every store of the root is open to whoever reaches the port."""

from attviz.explore.app import build_app
from attviz.lab.session import SignedInPage

build_app(session=SignedInPage()).servable(title="attviz")
