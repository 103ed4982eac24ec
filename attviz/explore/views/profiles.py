"""The corpus view's position profile: mean self-attention by token position."""

from __future__ import annotations

import numpy as np

from ..corpus_data import PositionProfile
from ..corpus_state import CorpusSettings


def position_series(settings: CorpusSettings, prof: PositionProfile | None
                    ) -> tuple[str, tuple, dict]:
    """What the position figure shows: (title, make-up, the columns of its one data source).
    The make-up is ("heads", ((head, colour), ...)): a line per shown head, from column
    "head {h}"; ("mean",): the heads' range as a band ("low", "high"), then their mean;
    ("empty",). Every make-up but the empty one has "position" and "count" (tokens seen)."""
    ex = settings.explorer
    title = f"By token position · layer {ex.layer}"
    if prof is None or not len(prof.count):
        return title, ("empty",), {}
    title += " · " + ("exact" if prof.exact else f"sample of {prof.sample:,}")
    x = np.arange(len(prof.count))
    heads = [h for h in ex.heads if h < prof.mean.shape[1]] or list(range(prof.mean.shape[1]))
    if settings.per_head:
        colors = ex.head_colors
        return title, ("heads", tuple((h, colors[h % len(colors)]) for h in heads)), {
            "position": x, "count": prof.count,
            **{head_column(h): prof.mean[:, h] for h in heads}}
    vals = prof.mean[:, heads]
    return title, ("mean",), {"position": x, "count": prof.count, "low": vals.min(axis=1),
                              "high": vals.max(axis=1), "mean": vals.mean(axis=1)}


def head_column(h: int) -> str:
    return f"head {h}"


def position_figure(title: str, makeup: tuple, data: dict):
    """The position profile (:func:`position_series`) as a plain Bokeh figure: one data
    source, one glyph model per renderer (a line per head with its own source and Bokeh's
    three glyph copies was ~150 models for 12 heads; this is ~60)."""
    from bokeh.models import CDSView, ColumnDataSource, HoverTool, Legend, LegendItem, Line, VArea

    from .tokenplot import add_glyph, plain_figure

    fig = plain_figure(title, height=340, grid=True, title_size=None,
                       x_axis_label="token position", y_axis_label="mean self-attention")
    if makeup[0] == "empty":
        return fig
    source = ColumnDataSource(data)
    view = CDSView()  # one for all renderers of the one source: which rows, all of them
    tips = [("position", "@position"), ("mean", "@mean{0.0000}"), ("tokens", "@count{0,0}")]
    if makeup[0] == "heads":
        items = []
        for h, color in makeup[1]:
            line = add_glyph(fig, Line(x="position", y=head_column(h), line_width=1.5,
                                       line_color=color), source)
            line.update(name=head_column(h), view=view)
            items.append(LegendItem(label=head_column(h), renderers=[line]))
        hovered = [item.renderers[0] for item in items]
        # the renderer's name is its head; $snap_y the value of the point nearest the pointer
        tips = [("head", "$name"), ("position", "@position"), ("mean", "$snap_y{0.0000}"),
                ("tokens", "@count{0,0}")]
    else:
        band = add_glyph(fig, VArea(x="position", y1="low", y2="high", fill_color="#9ecae1",
                                    fill_alpha=0.5), source)
        mean = add_glyph(fig, Line(x="position", y="mean", line_width=2, line_color="#1f4e79"),
                         source)
        band.view = mean.view = view
        items = [LegendItem(label="range of the shown heads", renderers=[band]),
                 LegendItem(label="mean of the shown heads", renderers=[mean])]
        hovered = [mean]
    fig.add_tools(HoverTool(renderers=hovered, tooltips=tips))
    fig.add_layout(Legend(items=items, click_policy="hide"), "right")
    return fig


def update_position_figure(fig, title: str, data: dict) -> None:
    """New data (of the same make-up) into the figure ``fig`` made by :func:`position_figure`:
    the same models get new values, so the browser keeps the figure."""
    fig.title.text = title
    if fig.renderers:
        fig.renderers[0].data_source.data = data
