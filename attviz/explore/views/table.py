"""The filtered instances as a table, paginated on the server: only one page of rows is
ever built or sent to the browser, whatever the number of instances."""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param

from ..rows import HEAD_STATISTIC, SORT_KEYS, table_csv, table_frame
from ..state import Explorer
from .events import held
from .rowtable import RowTable, table_payload

# the table's columns: their titles, widths (px) and alignment
COLUMNS = [
    {"name": "id", "title": "id", "width": 44, "align": "right"},
    {"name": "document", "title": "document", "width": 106, "align": "left"},
    {"name": "segment", "title": "seg", "width": 32, "align": "right"},
    {"name": "gold", "title": "gold", "width": 66, "align": "left"},
    {"name": "predicted", "title": "pred", "width": 66, "align": "left"},
    {"name": "confidence", "title": "conf", "width": 42, "align": "right", "format": "0.000"},
    {"name": "correct", "title": "ok", "width": 30, "align": "center"},
    {"name": "tokens", "title": "tok", "width": 30, "align": "right"},
]


class InstanceTable(pn.viewable.Viewer):
    """The table; ``on_pick`` is called after a person picks a row."""

    explorer = param.ClassSelector(class_=Explorer)
    on_pick = param.Callable(default=None)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        # the server sorts and pages; the browser shows one page of rows as text
        self.table = RowTable(height=390, sizing_mode="stretch_width", margin=(5, 10))
        self.table.param.watch(self._on_pick, "picked")
        self.first = pn.widgets.Button(name="«", width=40, margin=(2, 2))
        self.prev = pn.widgets.Button(name="‹", width=40, margin=(2, 2))
        self.next = pn.widgets.Button(name="›", width=40, margin=(2, 2))
        self.last = pn.widgets.Button(name="»", width=40, margin=(2, 2))
        self.first.on_click(lambda e: self._goto(1))
        self.prev.on_click(lambda e: self._goto(ex.page - 1))
        self.next.on_click(lambda e: self._goto(ex.page + 1))
        self.last.on_click(lambda e: self._goto(ex.pages))
        self.where = pn.pane.HTML(sizing_mode="stretch_width", margin=(8, 6))
        self.sort = pn.widgets.Select.from_param(ex.param.sort_by, name="sort by",
                                                 options=list(SORT_KEYS), width=140)
        self.desc = pn.widgets.Checkbox.from_param(ex.param.descending, name="descending",
                                                   margin=(28, 5, 5, 5))
        self.download = pn.widgets.FileDownload(callback=lambda: table_csv(ex.opened, ex.filtered),
                                                filename="instances.csv",
                                                label="filtered table (CSV)", button_type="light",
                                                sizing_mode="stretch_width")
        self.sorted_by = pn.pane.HTML(sizing_mode="stretch_width", margin=(0, 10))
        ex.param.watch(self._refresh, ["page", "count", "instance", "sort_by", "descending",
                                       "sort_head", "error"])
        self.opened, self.ids = None, None
        self._refresh()

    def _goto(self, page: int) -> None:
        ex = self.explorer
        ex.page = min(max(1, page), ex.pages)

    def _refresh(self, *_) -> None:
        ex = self.explorer
        ids = ex.page_indices()
        if (self.ids is None or ex.opened is not self.opened
                or not np.array_equal(ids, self.ids)):  # a new page: its rows are sent
            self.opened, self.ids = ex.opened, ids
            self.table.payload = table_payload(table_frame(ex.opened, ids), COLUMNS)
        rows = np.flatnonzero(self.ids == ex.instance)  # else only the selection moves
        self.table.selected = int(rows[0]) if len(rows) else -1
        self.where.object = (f"page {min(ex.page, ex.pages)} of {ex.pages:,} "
                             f"({ex.count:,} instances)")
        self.sorted_by.object = ""
        if ex.sort_by == HEAD_STATISTIC and ex.sort_head:
            stat, layer, head = ex.sort_head
            first = "largest" if ex.descending else "smallest"
            self.sorted_by.object = (f'<span class="av-sorted" style="font-size:12px">by '
                                     f"{html.escape(stat)} of layer {layer} head {head}, "
                                     f"{first} first</span>")

    def _on_pick(self, event) -> None:
        if event.new < 0:
            return
        held(self.explorer.select_row, event.new)
        if self.on_pick is not None:
            self.on_pick()

    def __panel__(self):
        return pn.Column(
            pn.Row(self.sort, self.desc, sizing_mode="stretch_width"),
            self.sorted_by,
            self.table,
            pn.Row(self.first, self.prev, self.where, self.next, self.last,
                   sizing_mode="stretch_width"),
            self.download,
            sizing_mode="stretch_width",
        )
