"""The corpus view's token profile: the tokens a head attends to most over the slice (or
whose attention differs most between slices A and B) as horizontal bars, the top token
first, with two bars per token (A, B) in contrast mode. A plain Bokeh figure, updated in
place while the number of bar series stays the same."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bokeh import events
from bokeh.models import (
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    Quad,
    Range1d,
    Text,
)

from ..corpus_data import TokenProfile
from ..corpus_state import CorpusSettings
from .tokenplot import add_glyph, plain_figure

COLOR_A, COLOR_B = "#e76f51", "#2a6f97"
HEIGHT = 560


@dataclass
class TokenBars:
    """What the token profile shows: per series (legend name, colour, its bars' data), the
    token names left of the bars, and the ranges."""

    title: str
    series: list[tuple[str, str, dict]]
    names: dict
    xlim: tuple[float, float]
    ylim: tuple[float, float]


def token_bars(settings: CorpusSettings, prof: TokenProfile | None,
               vocab: list[str]) -> TokenBars:
    ex = settings.explorer
    who = (f"L{ex.layer} H{settings.head}" if settings.head is not None
           else f"L{ex.layer}, mean of heads")
    if prof is None or not len(prof.token_id):
        return TokenBars(f"Tokens · {who}: none seen {settings.min_count} times", [],
                         {"x": [], "y": [], "text": []}, (0.0, 1.0), (-0.6, 0.4))
    n = len(prof.token_id)
    tokens = [vocab[t] if 0 <= t < len(vocab) else f"[{t}]" for t in prof.token_id.tolist()]
    y = np.arange(n)[::-1].astype(float)  # the first token at the top
    name_a, name_b = settings.slice_names()
    both = prof.mean_b is not None
    half = 0.4
    parts = [(name_a, prof.mean, prof.count, COLOR_A, y if both else y - half, y + half)]
    if both:
        parts.append((name_b, prof.mean_b, prof.count_b, COLOR_B, y - half, y))
    series = [(name, color, {"x0": np.zeros(n), "y0": y0, "x1": mean, "y1": y1,
                             "token": tokens, "mean": mean, "count": count.astype(float)})
              for name, mean, count, color, y0, y1 in parts]
    top = float(np.nanmax(np.concatenate([prof.mean, prof.mean_b if both else []])))
    top = top if np.isfinite(top) and top > 0 else 1.0
    how = "exact" if prof.exact else f"sample of {prof.sample:,}"
    what = "largest A − B" if both else "highest mean"
    # token names as a glyph left of the bars, not tick labels: a glyph's data follows every
    # update
    names = {"x": np.full(n, -0.02 * top), "y": y, "text": tokens}
    return TokenBars(f"Tokens: {what} · {who} · {how}", series, names,
                     (-0.32 * top, 1.05 * top), (-0.6, n - 0.4))


def _tips(name: str) -> list[tuple[str, str]]:
    return [("token", "@token"), (f"mean in {name}", "@mean{0.0000}"),
            ("count", "@count{0,0}")]


class TokenProfileFigure:
    """The figure of a :class:`TokenBars`; :meth:`update` takes another with as many series.
    ``on_tap(x, y)`` gets the data coordinates of a click."""

    def __init__(self, b: TokenBars, on_tap) -> None:
        fig = plain_figure(b.title, height=HEIGHT, x_axis_label="self-attention",
                           x_range=Range1d(*b.xlim), y_range=Range1d(*b.ylim))
        fig.yaxis.visible = False
        self.bars, self.items, self.hovers = [], [], []
        for name, color, data in b.series:
            glyph = Quad(left="x0", right="x1", bottom="y0", top="y1", fill_color=color,
                         line_alpha=0)
            r = add_glyph(fig, glyph, ColumnDataSource(data))
            self.bars.append(r)
            self.items.append(LegendItem(label=name, renderers=[r]))
            self.hovers.append(HoverTool(renderers=[r], tooltips=_tips(name)))
        fig.add_tools(*self.hovers)
        self.names = ColumnDataSource(b.names)
        text = Text(x="x", y="y", text="text", text_align="right", text_baseline="middle",
                    text_font_size="8.5pt", text_color="#333")
        add_glyph(fig, text, self.names)
        if self.items:
            fig.add_layout(Legend(items=self.items, location="bottom_right"))
        fig.on_event(events.Tap, lambda e: on_tap(e.x, e.y))
        self.fig = fig

    def fits(self, b: TokenBars) -> bool:
        return len(b.series) == len(self.bars)

    def update(self, b: TokenBars) -> None:
        fig = self.fig
        fig.title.text = b.title
        for r, item, hover, (name, _color, data) in zip(self.bars, self.items, self.hovers,
                                                        b.series):
            r.data_source.data = data
            if getattr(item.label, "value", None) != name:
                item.label = name
                hover.tooltips = _tips(name)
        self.names.data = b.names
        for r, lim in ((fig.x_range, b.xlim), (fig.y_range, b.ylim)):
            r.update(start=lim[0], end=lim[1], reset_start=lim[0], reset_end=lim[1])
