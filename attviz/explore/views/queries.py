"""The sidebar's corpus queries: conditions on head statistics ("layer l head h self_max >=
0.5"), any number of them, and the "contains token" filter, typed or set by the token
profile."""

from __future__ import annotations

import html

import panel as pn
import param

from ..corpus_state import STAT_LABELS
from ..filters import HeadCondition
from ..state import Explorer

NOTE_STYLE = (".av-notice { background: #fff3cd; color: #664d03; border: 1px solid #ffecb5; "
              "border-radius: 6px; padding: 6px 10px; font-size: 13px; }")


class QueryEditor(pn.viewable.Viewer):
    """Adds and removes the explorer's head conditions; shows and sets its token filter."""

    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        ex = self.explorer
        self.statistic = pn.widgets.Select(name="statistic", width=130)
        self.layer = pn.widgets.IntInput(name="layer", value=0, start=0, width=62)
        self.head = pn.widgets.IntInput(name="head", value=0, start=0, width=62)
        self.op = pn.widgets.Select(name="", options=[">=", "<="], value=">=", width=58,
                                    margin=(23, 5, 5, 5))
        self.threshold = pn.widgets.FloatInput(name="value", value=0.5, step=0.05, width=72)
        self.add = pn.widgets.Button(name="add", width=52, margin=(23, 5, 5, 5))
        self.add.on_click(lambda e: self.add_condition())
        self.sort = pn.widgets.Button(name="sort the table by this head", button_type="light",
                                      sizing_mode="stretch_width", margin=(0, 10))
        self.sort.on_click(lambda e: self.sort_by_head())
        self.conditions = pn.Column(sizing_mode="stretch_width", margin=0)
        self.token_input = pn.widgets.TextInput(name="contains token",
                                                placeholder="a token, e.g. the or ##ing",
                                                sizing_mode="stretch_width")
        self.token_input.param.watch(self._typed_token, "value")
        self.token_shown = pn.pane.HTML(sizing_mode="stretch_width", margin=(0, 10))
        self.clear_token = pn.widgets.Button(name="× any token", width=100, visible=False)
        self.clear_token.on_click(lambda e: setattr(ex.filters, "token", -1))
        self.notice = pn.pane.HTML(
            pn.bind(lambda n: f'<div class="av-notice">{html.escape(n)}</div>', ex.param.notice),
            visible=pn.bind(bool, ex.param.notice), stylesheets=[NOTE_STYLE],
            sizing_mode="stretch_width")
        ex.filters.param.watch(self._refresh, ["head_filters", "token"])
        ex.param.watch(self._refresh, ["store_name", "error"])
        self._refresh()

    def add_condition(self) -> None:
        ex, where = self.explorer, self._head()
        if where is None:
            return
        cond = HeadCondition(self.statistic.value, *where, float(self.threshold.value or 0.0),
                             self.op.value)
        if cond not in ex.filters.head_filters:
            ex.filters.head_filters = [*ex.filters.head_filters, cond]

    def _head(self) -> tuple[int, int] | None:
        """The layer and head typed in, within the store's."""
        ex = self.explorer
        if ex.opened is None or not self.statistic.value:
            return None
        meta = ex.opened.store.meta
        return (min(max(0, int(self.layer.value or 0)), meta.num_layers - 1),
                min(max(0, int(self.head.value or 0)), meta.num_heads - 1))

    def sort_by_head(self) -> None:
        """Order the instance table by the typed head's statistic, largest first."""
        where = self._head()
        if where is not None:
            self.explorer.sort_by_head(self.statistic.value, *where)

    def _typed_token(self, event) -> None:
        ex = self.explorer
        text = event.new.strip()
        if not text or ex.opened is None:
            return
        vocab = ex.opened.store.vocab
        try:
            ex.filters.token = vocab.index(text)
        except ValueError:
            ex.notice = f"{text!r} is not a token of this store's vocabulary"

    def _refresh(self, *_) -> None:
        ex = self.explorer
        stats = ex.opened.slices.statistics if ex.opened is not None else []
        self.statistic.options = {STAT_LABELS.get(s, s).split(" (")[0]: s for s in stats}
        if self.statistic.value not in stats:
            self.statistic.value = stats[0] if stats else None
        self.statistic.disabled = self.add.disabled = self.sort.disabled = not stats
        if ex.opened is not None:
            meta = ex.opened.store.meta
            self.layer.end, self.head.end = meta.num_layers - 1, meta.num_heads - 1
        rows = []
        for cond in ex.filters.head_filters:
            remove = pn.widgets.Button(name="×", width=32, margin=(2, 5))
            remove.on_click(lambda e, c=cond: setattr(
                ex.filters, "head_filters", [x for x in ex.filters.head_filters if x != c]))
            rows.append(pn.Row(remove, pn.pane.HTML(
                f'<span class="av-cond">{html.escape(str(cond))}</span>', margin=(8, 5)),
                margin=0))
        self.conditions.objects = rows
        token = ex.filters.token
        if token >= 0 and ex.opened is not None:
            vocab = ex.opened.store.vocab
            name = vocab[token] if token < len(vocab) else f"[{token}]"
            self.token_shown.object = (f'<span class="av-token-filter">holding the token '
                                       f'<code>{html.escape(name)}</code></span>')
        else:
            self.token_shown.object = ""
        self.clear_token.visible = ex.filters.token >= 0

    def __panel__(self):
        return pn.Column(
            pn.pane.HTML("<b>head statistics</b>", margin=(5, 10, 0, 10)),
            pn.Row(self.statistic, self.layer, self.head, self.op, self.threshold, self.add,
                   sizing_mode="stretch_width"),
            self.conditions, self.sort,
            self.token_input, pn.Row(self.token_shown, self.clear_token),
            self.notice, sizing_mode="stretch_width")
