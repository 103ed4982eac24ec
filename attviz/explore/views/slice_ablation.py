"""The Corpus tab's "switch off over the slice": choose heads (typed, the largest contrast
of the head grid, the most important of the slice), run the sidebar's slice with them off
(progress bar, cancel), and see accuracy before and after, what flipped, and the confusion
matrix after (click a cell to filter to it)."""

from __future__ import annotations

import html

import panel as pn
import param

from ..ablation_data import SLICE_LIMIT, heads_text
from ..state import Explorer
from .confusion import cell_at, confusion_cells, confusion_figure
from .events import InSession, in_order


def _share(a: int, b: int) -> str:
    return f"{a:,} of {b:,}" + (f" ({a / b:.0%})" if b else "")


def summary_html(ex: Explorer) -> str:
    """What the last slice run found, in a few sentences (or what will run)."""
    ab = ex.ablation
    res = ab.slice_result
    n = int(ex.mask.sum()) if ex.opened is not None else 0
    plan = (f"The sidebar's slice now holds {n:,} instances: “switch off over the slice” "
            + (f"runs a uniform sample of {SLICE_LIMIT:,} of them." if n > SLICE_LIMIT
               else "runs all of them."))
    status = f"<div>{html.escape(ab.slice_status)}</div>" if ab.slice_status else ""
    if res is None:
        return f'<div class="av-slice-ablation">{plan}{status}</div>'
    before, after, labelled = res.accuracy()
    flips = res.flips()
    what = (f"a uniform sample of {len(res.instances):,} of {res.slice_size:,} instances"
            if res.sampled else f"all {len(res.instances):,} instances of the slice")
    acc = (f"accuracy <b>{before:.3f} → {after:.3f}</b> ({labelled:,} with gold labels)"
           if labelled else "no gold labels")
    changed = int(res.changed.sum())
    return (f'<div class="av-slice-ablation" style="font-size:14px">'
            f"<div>With <b>{html.escape(heads_text(res.heads))}</b> off, over {what}: "
            f"{acc}; <b class='av-changed-count'>{changed:,}</b> prediction(s) changed: "
            f"{_share(flips['fixed'], flips['errors'])} errors now correct, "
            f"{_share(flips['broken'], flips['correct'])} correct ones now wrong.</div>"
            f"<div style='color:#555'>{plan}</div>{status}</div>")


class SliceAblationView(pn.viewable.Viewer):
    """The slice run with heads off, on the Corpus tab of one session."""

    explorer = param.ClassSelector(class_=Explorer)
    grid = param.Callable(default=lambda: None, doc="the head grid shown now (corpus_data.Grid)")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        ex = self.explorer
        ab = ex.ablation
        self.session = InSession()
        self._figure = None  # the matrix's CellFigure, made for the first result
        self.heads = pn.widgets.TextInput(name="heads off (layer.head, e.g. 3.7, 5.1)",
                                          value=ab.text, width=300,
                                          css_classes=["av-heads-off"])
        self.heads.param.watch(self._typed, "value")
        ab.param.watch(lambda *_: setattr(self.heads, "value", ab.text), "heads_off")
        contrast = pn.widgets.Button(name="the k largest contrasts", button_type="light",
                                     description="the k heads whose statistic differs most "
                                     "between A and B in the grid above (contrast mode)")
        contrast.on_click(lambda e: ab.largest_contrast(self.grid()))
        top = pn.widgets.Button(name="the k most important", button_type="light",
                                description="mean |dL/dg| over the slice (precompute "
                                "--importance)")
        top.on_click(lambda e: ab.most_important())
        run = pn.widgets.Button(name="switch off over the slice", button_type="primary",
                                css_classes=["av-run-slice"])
        run.on_click(lambda e: ab.run_slice())
        cancel = pn.widgets.Button(name="cancel", button_type="warning", visible=False,
                                   css_classes=["av-cancel-slice"])
        cancel.on_click(lambda e: ab.cancel_slice())
        self.progress = pn.indicators.Progress(value=0, max=1, width=300, visible=False,
                                               bar_color="primary")
        show = pn.widgets.Button(name="list the changed predictions", button_type="light",
                                 visible=False, css_classes=["av-show-changed"])
        show.on_click(lambda e: setattr(ex.filters, "ablation_changed", True))
        self.summary = pn.pane.HTML(summary_html(ex), sizing_mode="stretch_width")
        self.matrix = pn.pane.Bokeh(None, visible=False)

        def busy(*_):
            cancel.visible = self.progress.visible = ab.slice_busy
            self.progress.param.update(max=max(1, ab.total), value=min(ab.done, ab.total))

        def result(*_):
            show.visible = self.matrix.visible = ab.slice_result is not None
            self._draw_matrix()

        ab.param.watch(busy, ["slice_busy", "done", "total"])
        ab.param.watch(in_order(result), ["slice_result"])
        ab.param.watch(self._summary, ["slice_result", "slice_status"])
        ex.param.watch(self._summary, ["count"])
        self.controls = pn.Row(self.heads, pn.widgets.IntInput.from_param(ab.param.k, width=60),
                               contrast, top, run, cancel, sizing_mode="stretch_width")
        self.layout = pn.Column(pn.pane.Markdown("#### Switch heads off over the slice"),
                                self.controls, self.progress, self.summary,
                                pn.Row(self.matrix, show), sizing_mode="stretch_width")

    def _typed(self, event) -> None:
        ab = self.explorer.ablation
        if event.new.strip() == ab.text:
            return
        problem = ab.set_text(event.new)
        if problem:
            ab.slice_status = f"Heads not taken: {problem}."

    def _summary(self, *_) -> None:
        self.summary.object = summary_html(self.explorer)

    def _draw_matrix(self) -> None:
        """The confusion matrix after the run: its first figure, then new values into it."""
        ex = self.explorer
        res = ex.ablation.slice_result
        names = ex.label_names
        if res is None or not names:
            return
        xlabel = "predicted with the heads off"
        shown = confusion_cells(res.confusion_after(len(names)), names,
                                "Confusion with the heads off (click: filter)", xlabel=xlabel)
        if self._figure is not None and self._figure.fits(shown):
            self._figure.update(shown)
        else:
            self._figure = confusion_figure(shown, len(names), self._on_tap, xlabel=xlabel,
                                            min_width=560)
            self.matrix.object = self._figure.fig

    def _on_tap(self, x=None, y=None) -> None:
        if x is None or y is None:
            return
        cell = cell_at(x, y, len(self.explorer.label_names))
        if cell is not None:
            self.session.run(lambda: setattr(self.explorer.filters, "ablation_cell", cell))

    def __panel__(self):
        return self.layout
