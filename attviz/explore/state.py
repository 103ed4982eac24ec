"""One browser session's state: the filters, the selection and the view settings, as
parameters over a shared store; what happens when a store opens; refiltering.

Views read this object and render one thing each; they never touch the store directly.
Stores come from :mod:`.catalog`, the table's rows from :mod:`.rows`, what the views draw
from :mod:`.viewdata`, the labels of choices from :mod:`.choices`. Everything here is
driven by parameters, so tests set parameters and check results without a browser.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import param

from ..analysis.aggregate import AGGREGATIONS
from ..errors import UserError
from ..store import Instance, StoreError
from .ablation_state import AblationState
from .catalog import Scope, StoreCatalog
from .choices import AGGREGATE, SCOPE_HEADS, SCOPES, highlight_choices
from .filters import Filters
from .lru import LRU
from .relations_state import RelationsState
from .rows import HEAD_STATISTIC, SORT_KEYS, order, page_count, page_rows
from .stores import SharedStore
from .style import head_colors
from .viewdata import ViewData, ViewKey, ViewSettings, view_data


class Explorer(param.Parameterized):
    """Filter, selection and view settings of one session over a shared store."""

    # -- store -----------------------------------------------------------------------------
    store_name = param.Selector(default=None, objects=[], allow_None=True, check_on_set=True,
                                doc="store under the root folder (relative path)")
    error = param.String(default="", doc="why the store could not be shown")
    notice = param.String(default="", doc="why a filter or sort asked for could not be applied")
    instance_error = param.String(default="", doc="why the selected instance cannot be shown")

    count = param.Integer(default=0, doc="instances that pass the filters")
    total = param.Integer(default=0, doc="instances in the store")

    # -- table ---------------------------------------------------------------------------------
    sort_by = param.Selector(default="corpus order", objects=list(SORT_KEYS))
    descending = param.Boolean(default=False)
    # (statistic, layer, head) whose values order the table when sort_by is HEAD_STATISTIC
    sort_head = param.Tuple(default=None, length=3, allow_None=True)
    page = param.Integer(default=1, bounds=(1, None))
    page_size = param.Integer(default=15, bounds=(1, 200))

    # -- selection and views -------------------------------------------------------------------
    instance = param.Integer(default=-1, doc="selected instance (index in the store), -1 none")
    layer = param.Integer(default=0, bounds=(0, 0), doc="the model's layer number the views "
                          "of the instance show (one whose diagonals the store holds)")
    stored_layers = param.List(default=[0], item_type=int, doc="the model layer numbers whose "
                               "diagonals the store holds (all but for stores of --layers)")
    heads = param.ListSelector(default=[], objects=[], doc="shown heads of the layer")
    head_colors = param.List(default=[], item_type=str)
    aggregation = param.Selector(default="mean", objects=list(AGGREGATIONS))
    scope = param.Selector(default=SCOPE_HEADS, objects=SCOPES)  # SCOPE_HEADS or SCOPE_ALL
    scale = param.Selector(default="linear", objects=["linear", "log"])
    hide_special = param.Boolean(default=False, doc="leave out [CLS], [SEP] and the like")
    words = param.Boolean(default=False, doc="words instead of subword tokens: pieces whose "
                          "characters touch form one word (docs/aggregations.md)")
    # None (the aggregate) or a head of the layer
    highlight = param.Selector(default=None, objects={AGGREGATE: None},
                               doc="what colours the text: the aggregate or one head")
    marked = param.Integer(default=-1, doc="marked token (position in the instance), -1 none")

    def __init__(self, root: str | Path | None = None, store: str | Path | None = None,
                 scope: Scope | None = None, **params) -> None:
        super().__init__(**params)
        self.filters = Filters()  # the sidebar's filters: which instances the table holds
        self.filters.param.watch(self._refilter, [p for p in self.filters.param if p != "name"])
        self.opened: SharedStore | None = None
        self._order = np.zeros(0, dtype=np.int64)
        self._mask = np.zeros(0, dtype=bool)
        self._views: LRU[ViewData] = LRU(8)  # ViewKey -> ViewData
        self.relations = RelationsState(self)  # token x token attention, rollouts (on demand)
        self.ablation = AblationState(self)  # heads switched off (on demand)
        # scope: the stores a signed-in user may open (None: every store under the root)
        self.catalog = StoreCatalog.around(root, store, scope)
        self.refresh_store_list()
        try:
            first = self.catalog.first(store)
        except StoreError as e:
            self.error = str(e)
            return
        self._offer(first)
        self.store_name = first

    @property
    def root(self) -> Path | None:
        """The folder whose stores this session may open."""
        return self.catalog.root

    # -- opening ------------------------------------------------------------------------------
    def request_store(self, name: str) -> bool:
        """Open ``name`` (from a URL, relative to the root) if it is a store inside the root."""
        try:
            rel = self.catalog.locate(name)
        except StoreError as e:  # OutsideRoot included
            self._fail(str(e))
            return False
        self._offer(rel)
        if rel != self.store_name:
            self.store_name = rel
        return self.opened is not None

    def refresh_store_list(self) -> None:
        self.param.store_name.objects = self.catalog.names()

    def _offer(self, name: str) -> None:
        """Put store ``name`` into the picker if the listing left it out."""
        if name not in self.param.store_name.objects:
            self.param.store_name.objects = [*self.param.store_name.objects, name]

    @param.depends("store_name", watch=True)
    def _open_store(self) -> None:
        if self.store_name is None:
            return
        try:
            opened = self.catalog.open(self.store_name)
        except StoreError as e:  # OutsideRoot included
            self._fail(str(e))
            return
        except Exception as e:  # noqa: BLE001 - any failure is shown, the server keeps running
            self._fail(f"{self.store_name}: cannot be opened ({type(e).__name__}: {e})")
            return
        self.opened = opened
        self.error = ""
        self._configure()

    def _fail(self, message: str) -> None:
        self.opened = None
        self._order = np.zeros(0, dtype=np.int64)
        self._mask = np.zeros(0, dtype=bool)
        with param.parameterized.batch_call_watchers(self):
            self.count = self.total = 0
            self.instance = -1
            self.error = message

    def _configure(self) -> None:
        st = self.opened.store
        names = st.label_names
        n_heads, n_layers = st.meta.num_heads, st.meta.num_layers
        max_tokens = int(self.opened.cols.token_count.max()) if st.n_instances else 0
        self.filters.configure(names, max_tokens)
        with param.parameterized.discard_events(self):
            self.stored_layers = list(st.meta.layers)
            self.param.layer.bounds = (0, n_layers - 1)
            self.param.heads.objects = list(range(n_heads))
            self.param.highlight.objects = highlight_choices(n_heads)
            self.sort_head = None
            if self.sort_by == HEAD_STATISTIC:
                self.sort_by = "corpus order"
            self.layer = self.stored_layers[-1]
            self.heads = list(range(n_heads))
            self.head_colors = head_colors(n_heads)
            self.highlight = None
            self.page = 1
            self.marked = -1
            self.instance = -1  # an index of the previous store means nothing here
            self.total = st.n_instances
        # parameters changed silently above: tell the widgets and views once (the filters'
        # event refilters)
        self.filters.param.trigger("gold", "predicted", "cell", "tokens")
        self.param.trigger("stored_layers", "layer", "heads", "highlight")

    # -- filtering ----------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return self.opened.label_names if self.opened else []

    @param.depends("sort_by", "descending", "sort_head", watch=True)
    def _refilter(self, *_) -> None:
        if self.opened is None:
            return
        try:
            mask = self.filters.mask(self.opened)
            values = self.opened.slices.column(*self.sort_head) if self.sort_head else None
        except UserError as e:  # a store without the index or statistics asked for
            self.notice = str(e)
            return
        self.notice = ""
        self._mask = mask
        self._order = order(self.opened.cols, mask, self.sort_by, self.descending, values)
        kept = 0 <= self.instance < len(mask) and bool(mask[self.instance])
        with param.parameterized.batch_call_watchers(self):
            self.count = len(self._order)
            if kept:  # the selection stays; show the page it is on
                self.page = self.position_of(self.instance) // self.page_size + 1
            else:
                self.page = 1
                self.instance = int(self._order[0]) if len(self._order) else -1
            self.param.trigger("count")

    @property
    def mask(self) -> np.ndarray:
        """[instances] bool: the instances that pass the filters."""
        return self._mask

    @property
    def filtered(self) -> np.ndarray:
        """Indices of the instances that pass the filters, in table order."""
        return self._order

    def position_of(self, index: int) -> int:
        """Row of instance ``index`` in the filtered table (-1 if filtered out)."""
        hits = np.flatnonzero(self._order == index)
        return int(hits[0]) if len(hits) else -1

    @property
    def pages(self) -> int:
        return page_count(self.count, self.page_size)

    # -- table ----------------------------------------------------------------------------------
    def page_indices(self, page: int | None = None) -> np.ndarray:
        """The instances on the table's page ``page`` (default: the current page)."""
        return page_rows(self._order, page or self.page, self.page_size)

    def select_row(self, row_on_page: int) -> None:
        idx = self.page_indices()
        if 0 <= row_on_page < len(idx):
            self.instance = int(idx[row_on_page])

    def step(self, delta: int) -> None:
        """Select the next (or previous) instance of the filtered table."""
        if not len(self._order):
            return
        pos = self.position_of(self.instance)
        pos = min(max(0, pos + delta), len(self._order) - 1)
        with param.parameterized.batch_call_watchers(self):
            self.instance = int(self._order[pos])
            self.page = pos // self.page_size + 1

    # -- the selected instance -----------------------------------------------------------------
    @param.depends("instance", watch=True)
    def _clear_mark(self) -> None:
        self.marked = -1
        self.instance_error = ""
        self.check_store()

    def check_store(self) -> None:
        """One message, and the picker without it, when the open store was deleted."""
        if self.opened is not None and self.opened.gone():
            name = self.store_name
            self.refresh_store_list()
            self._fail(f"{name}: the store was removed from the server; choose another one")

    def current(self) -> Instance | None:
        """The selected instance; None (and ``instance_error`` says why) when unreadable."""
        if self.opened is None or self.instance < 0:
            return None
        try:
            return self.opened.instance(self.instance)
        except StoreError as e:  # a damaged part of the store: the next instance may be fine
            self.instance_error = f"Instance {self.instance:,} cannot be shown: {e}"
            return None

    def sort_by_head(self, statistic: str, layer: int, head: int) -> None:
        """Order the table by one head's statistic, largest first (the head's top instance
        on the first row)."""
        with param.parameterized.batch_call_watchers(self):
            self.sort_head = (statistic, int(layer), int(head))
            self.sort_by = HEAD_STATISTIC
            self.descending = True
        self.page = 1  # the refilter showed the selection's page; the top instance is here

    @param.depends("layer", watch=True)
    def _stored_layer(self) -> None:
        """The views of an instance show stored layers only: another is moved to the
        nearest stored one."""
        if self.layer not in self.stored_layers and self.stored_layers:
            self.layer = min(self.stored_layers, key=lambda x: (abs(x - self.layer), x))

    def select_layer_head(self, layer: int, head: int) -> None:
        """What clicking cell (layer, head) of the overview or the head grid does: that layer
        (when the store holds its diagonals) and that head."""
        if int(layer) not in self.stored_layers:
            self.notice = (f"Layer {layer}'s diagonals are not in this store (it holds layers "
                           f"{', '.join(map(str, self.stored_layers))}): the views of the "
                           f"instance stay on layer {self.layer}.")
            layer = self.layer
        with param.parameterized.batch_call_watchers(self):
            self.layer = int(layer)
            if head not in self.heads:
                self.heads = sorted([*self.heads, int(head)])
            self.highlight = int(head)

    def view_settings(self) -> ViewSettings:
        """The settings the views of the selected instance depend on."""
        return ViewSettings(layer=self.layer, heads=tuple(self.heads),
                            aggregation=self.aggregation, scope=self.scope,
                            hide_special=self.hide_special, highlight=self.highlight,
                            words=self.words)

    def view_data(self) -> ViewData | None:
        """What the views of the selected instance draw (None without one); views share it
        through a small cache keyed by store, instance and settings."""
        inst = self.current()
        if inst is None:
            return None
        settings = self.view_settings()
        return self._views.get(ViewKey(self.opened.path, self.instance, settings),
                               lambda: view_data(inst, settings))
