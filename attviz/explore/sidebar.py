"""The sidebar of the explorer page: the store picker, the count, the filters, the instance
table and the view settings, each a widget on a parameter of the session's Explorer."""

from __future__ import annotations

import panel as pn

from ..analysis.aggregate import AGGREGATIONS
from .picker import StorePicker
from .state import Explorer
from .style import head_name
from .views import InstanceTable
from .views.queries import QueryEditor
from .views.widgets import ChoiceSelect


def _count_html(ex: Explorer) -> str:
    return (f'<div class="av-count" style="font-size:15px"><b>{ex.count:,}</b> of '
            f'{ex.total:,} instances</div>')


def _head_colors(ex: Explorer) -> pn.Card:
    def make(h: int) -> pn.widgets.ColorPicker:
        w = pn.widgets.ColorPicker(name=head_name(h), value=ex.head_colors[h], width=70)

        def set_color(event, h=h):
            colors = list(ex.head_colors)
            colors[h] = event.new
            ex.head_colors = colors

        w.param.watch(set_color, "value")
        return w

    card = pn.Card(title="Head colours", collapsed=True, sizing_mode="stretch_width")

    def fill(event=None) -> None:  # pickers are built when the card is first opened
        if not card.collapsed and not card.objects:
            card.objects = [pn.FlexBox(*[make(h) for h in range(len(ex.head_colors))])]

    card.param.watch(fill, "collapsed")
    return card


def _layer_slider(ex: Explorer):
    """The layer of the instance views: every layer, or the stored ones of a store written
    with --layers (their model numbers)."""
    if ex.stored_layers == list(range(ex.param.layer.bounds[1] + 1)):
        return pn.widgets.IntSlider.from_param(ex.param.layer, name="layer",
                                               sizing_mode="stretch_width")
    return pn.widgets.DiscreteSlider.from_param(
        ex.param.layer, options=list(ex.stored_layers), name="layer (stored layers)",
        sizing_mode="stretch_width")


def _clear_button(ex: Explorer) -> pn.widgets.Button:
    """"clear all filters": shown while a filter is on."""
    button = pn.widgets.Button(name="clear all filters", button_type="light",
                               sizing_mode="stretch_width", visible=False,
                               css_classes=["av-clear-filters"])
    button.on_click(lambda e: ex.filters.reset())

    def show(*_):
        button.visible = bool(ex.filters.active())

    ex.filters.param.watch(show, [p for p in ex.filters.param if p != "name"])
    return button


def _ablation_filters(ex: Explorer) -> pn.Column:
    """The filters on the session's last slice ablation, made and shown once there is one
    (most sessions never run one: their pages do without these widgets)."""
    f = ex.filters.param
    box = pn.Column(visible=False, sizing_mode="stretch_width")

    def show(*_):
        there = ex.ablation.slice_result is not None
        if there and not box.objects:
            box.objects = [
                pn.widgets.Checkbox.from_param(f.ablation_changed,
                                               css_classes=["av-ablation-changed"]),
                ChoiceSelect.from_param(f.ablation_cell, sizing_mode="stretch_width")]
        box.visible = there

    ex.ablation.param.watch(show, "slice_result")
    show()
    return box


def sidebar(ex: Explorer, table: InstanceTable) -> list:
    store = StorePicker.of(ex, name="Store", sizing_mode="stretch_width")
    count = pn.pane.HTML(pn.bind(lambda *_: _count_html(ex), ex.param.count, ex.param.total),
                         sizing_mode="stretch_width")
    f = ex.filters.param
    filters = pn.Column(
        pn.widgets.Checkbox.from_param(f.misclassified_only),
        # Checkbox groups, not MultiChoice: Choices.js renders option labels as HTML, and
        # label names come from the model's config
        pn.Row(
            pn.Column(pn.pane.HTML("<b>gold</b>", margin=(0, 5)),
                      pn.widgets.CheckBoxGroup.from_param(f.gold), sizing_mode="stretch_width"),
            pn.Column(pn.pane.HTML("<b>predicted</b>", margin=(0, 5)),
                      pn.widgets.CheckBoxGroup.from_param(f.predicted),
                      sizing_mode="stretch_width"),
            sizing_mode="stretch_width", max_height=220, scroll=True),
        ChoiceSelect.from_param(f.cell, sizing_mode="stretch_width"),
        pn.widgets.RangeSlider.from_param(f.confidence, step=0.01, sizing_mode="stretch_width"),
        pn.widgets.IntRangeSlider.from_param(f.tokens, sizing_mode="stretch_width"),
        pn.Row(pn.widgets.TextInput.from_param(f.text, placeholder="press Enter to filter",
                                               sizing_mode="stretch_width"),
               pn.widgets.Checkbox.from_param(f.case_sensitive, margin=(30, 5, 5, 5), width=45),
               pn.widgets.Checkbox.from_param(f.inside_words, margin=(30, 5, 5, 5), width=80)),
        QueryEditor(explorer=ex),
        _ablation_filters(ex),
        _clear_button(ex),
        sizing_mode="stretch_width",
    )
    view = pn.Column(
        pn.panel(pn.bind(lambda *_: _layer_slider(ex), ex.param.stored_layers),
                 sizing_mode="stretch_width"),
        pn.pane.HTML("heads shown", margin=(5, 10, 0, 10)),
        pn.widgets.CheckButtonGroup.from_param(ex.param.heads, name="heads shown",
                                               button_type="primary", button_style="outline",
                                               sizing_mode="stretch_width"),
        pn.panel(pn.bind(lambda *_: _head_colors(ex), ex.param.store_name, ex.param.error)),
        pn.widgets.Select.from_param(ex.param.aggregation, name="aggregation",
                                     options=list(AGGREGATIONS), sizing_mode="stretch_width"),
        pn.widgets.Select.from_param(ex.param.scope, name="aggregate over",
                                     sizing_mode="stretch_width"),
        ChoiceSelect.from_param(ex.param.highlight, name="colour the text by",
                                     sizing_mode="stretch_width"),
        pn.widgets.RadioButtonGroup.from_param(ex.param.scale, name="scale"),
        pn.widgets.Checkbox.from_param(ex.param.hide_special, name="hide special tokens"),
        pn.widgets.Checkbox.from_param(ex.param.words, name="words instead of tokens"),
        sizing_mode="stretch_width",
    )
    return [store, count, pn.pane.Markdown("#### Filters"), filters,
            pn.pane.Markdown("#### Instances"), table,
            pn.pane.Markdown("#### View"), view]
