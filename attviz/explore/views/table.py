"""The filtered instances as a table, paginated on the server: only one page of rows is
ever built or sent to the browser, whatever the number of instances."""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from ..rows import HEAD_STATISTIC, SORT_KEYS, table_csv, table_frame
from ..state import Explorer
from .events import held


class InstanceTable(pn.viewable.Viewer):
    """The table; ``on_pick`` is called after a person picks a row."""

    explorer = param.ClassSelector(class_=Explorer)
    on_pick = param.Callable(default=None)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.table = pn.widgets.Tabulator(
            table_frame(ex.opened, ex.page_indices()), disabled=True, show_index=False,
            selectable=1, sortable=False,
            # fixed column widths: fitting columns to their data measures every cell in the
            # browser, a quarter of the page's first render
            pagination=None, sizing_mode="stretch_width", height=390, layout="fit_columns",
            widths={"id": 44, "document": 112, "segment": 32, "gold": 66, "predicted": 66,
                    "confidence": 42, "correct": 24, "tokens": 30},
            titles={"segment": "seg", "predicted": "pred", "confidence": "conf",
                    "correct": "ok", "tokens": "tok"},
            text_align={"confidence": "right", "tokens": "right", "segment": "right"},
            formatters={"confidence": NumberFormatter(format="0.000")},
            stylesheets=[".tabulator, .tabulator-row, .tabulator-header { font-size: 12px; } "
                         ".tabulator .tabulator-row .tabulator-cell { padding: 4px 3px; } "
                         ".tabulator .tabulator-header .tabulator-col .tabulator-col-content "
                         "{ padding: 4px 3px; }"],
        )
        self.table.param.watch(self._on_select, "selection")
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
        self._syncing = False
        self._refresh()

    def _goto(self, page: int) -> None:
        ex = self.explorer
        ex.page = min(max(1, page), ex.pages)

    def _refresh(self, *_) -> None:
        ex = self.explorer
        ids = ex.page_indices()
        shown = self.table.value
        self._syncing = True
        try:
            if (len(shown) != len(ids)
                    or (len(ids) and not np.array_equal(shown["id"].to_numpy(), ids))):
                # a new page; else only the selection moves
                self.table.value = table_frame(ex.opened, ids)
            frame = self.table.value
            rows = frame.index[frame["id"] == ex.instance].tolist() if len(frame) else []
            self.table.selection = rows[:1]
        finally:
            self._syncing = False
        self.where.object = (f"page {min(ex.page, ex.pages)} of {ex.pages:,} "
                             f"({ex.count:,} instances)")
        self.sorted_by.object = ""
        if ex.sort_by == HEAD_STATISTIC and ex.sort_head:
            stat, layer, head = ex.sort_head
            first = "largest" if ex.descending else "smallest"
            self.sorted_by.object = (f'<span class="av-sorted" style="font-size:12px">by '
                                     f"{html.escape(stat)} of layer {layer} head {head}, "
                                     f"{first} first</span>")

    def _on_select(self, event) -> None:
        if self._syncing or not event.new:
            return
        held(self.explorer.select_row, event.new[0])
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
