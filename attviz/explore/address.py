"""The address bar of a session: ``?store=NAME&instance=K`` and the filters that are on
(``misclassified=1``, ``gold=LABEL``, ``cell=...``, ``text=...``, ``head=self_max:3:7:>=:0.5``;
:meth:`attviz.explore.filters.Filters.query`). Read when the page loads, kept in step after,
so a copied link opens the same store, slice and instance."""

from __future__ import annotations

from urllib.parse import urlencode

import panel as pn

from .state import Explorer


def query(ex: Explorer) -> dict[str, list[str]]:
    """What the address bar says of the session ``ex`` (empty without an open store)."""
    if ex.opened is None or ex.store_name is None:
        return {}
    return {"store": [ex.store_name], "instance": [str(ex.instance)],
            **ex.filters.query(ex.opened.store.vocab)}


def follow(ex: Explorer, args: dict[str, list[str]]) -> None:
    """Open what an address names: its store, then its filters, then its instance (when it is
    in the slice). Filters this store cannot have are left out, and the session says so."""
    if args.get("store"):
        ex.request_store(args["store"][0])
    if ex.opened is None:
        return
    bad = ex.filters.apply_query(args, ex.opened)
    if bad:
        ex.notice = ("the address names filters this store does not have "
                     f"({', '.join(bad)}); they are left out")
    try:
        k = int(args.get("instance", ["-1"])[0])
    except ValueError:
        k = -1
    if 0 <= k < ex.total and ex.mask[k]:
        ex.instance = k


def sync_address(ex: Explorer) -> None:
    """In a served page: follow the address it was opened with, and keep the address bar in
    step with the store, the instance and the filters."""
    loc, doc = pn.state.location, pn.state.curdoc
    if loc is None or doc is None or getattr(doc, "session_context", None) is None:
        return  # not served (a notebook): the address bar is the notebook's
    args = {k: [v.decode("utf-8", "replace") for v in values]
            for k, values in (pn.state.session_args or {}).items()}
    follow(ex, args)

    def update(*_):
        wanted = query(ex)
        if wanted:
            loc.search = "?" + urlencode(wanted, doseq=True)

    ex.param.watch(update, ["store_name", "instance"])
    ex.filters.param.watch(update, [p for p in ex.filters.param if p != "name"])
