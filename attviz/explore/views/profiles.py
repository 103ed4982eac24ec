"""The corpus view's profiles: the tokens a head attends to most over the slice (or whose
attention differs most between slices A and B), and mean self-attention by token position."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from ..corpus_data import PositionProfile, TokenProfile
from ..corpus_state import CorpusSettings
from ..style import PLOT_OPTS
from ..svgtool import svg_save_tool
from .cells import set_ranges

COLOR_A, COLOR_B = "#e76f51", "#2a6f97"
KDIMS = ["x0", "y0", "x1", "y1"]


def _plot_opts(**extra) -> dict:
    opts = {k: v for k, v in PLOT_OPTS.items() if k != "default_tools"}
    opts.update(extra)
    return opts


def token_element(settings: CorpusSettings, prof: TokenProfile | None, vocab: list[str],
                  hooks: list) -> hv.Overlay:
    """Horizontal bars, the top token first; two bars per token (A, B) in contrast mode."""
    ex = settings.explorer
    who = (f"L{ex.layer} H{settings.head}" if settings.head is not None
           else f"L{ex.layer}, mean of heads")
    if prof is None or not len(prof.token_id):
        empty = hv.Rectangles([], kdims=KDIMS, vdims=["token"])
        return hv.Overlay([empty]).opts(hv.opts.Overlay(
            title=f"Tokens · {who}: none seen {settings.min_count} times", hooks=hooks,
            framewise=True, **_plot_opts(height=360)))
    n = len(prof.token_id)
    tokens = [vocab[t] if 0 <= t < len(vocab) else f"[{t}]" for t in prof.token_id.tolist()]
    y = np.arange(n)[::-1].astype(float)  # the first token at the top
    name_a, name_b = settings.slice_names()
    both = prof.mean_b is not None
    half = 0.4
    series = [(name_a, prof.mean, prof.count, COLOR_A, y if both else y - half, y + half)]
    if both:
        series.append((name_b, prof.mean_b, prof.count_b, COLOR_B, y - half, y))
    bars = []
    for name, mean, count, color, y0, y1 in series:
        data = {"x0": np.zeros(n), "y0": y0, "x1": mean, "y1": y1, "token": tokens,
                "mean": mean, "count": count.astype(float)}
        bars.append(hv.Rectangles(data, kdims=KDIMS, vdims=["token", "mean", "count"],
                                  label=name).opts(
            color=color, line_alpha=0, tools=["hover", "tap"], nonselection_alpha=1.0,
            framewise=True, default_tools=PLOT_OPTS["default_tools"],
            hover_tooltips=[("token", "@token"), (f"mean in {name}", "@mean{0.0000}"),
                            ("count", "@count{0,0}")]))
    how = "exact" if prof.exact else f"sample of {prof.sample:,}"
    what = "largest A − B" if both else "highest mean"
    top = float(np.nanmax(np.concatenate([prof.mean, prof.mean_b if both else []])))
    top = top if np.isfinite(top) and top > 0 else 1.0
    # token names as a glyph left of the bars, not tick labels: a glyph's data follows every
    # update (tick labels of an updated figure were seen to keep old names)
    names = hv.Labels({"x": np.full(n, -0.02 * top), "y": y, "text": tokens},
                      kdims=["x", "y"], vdims=["text"]).opts(
        text_align="right", text_font_size="8.5pt", text_color="#333")
    fit = set_ranges((-0.32 * top, 1.05 * top), (-0.6, n - 0.4))
    how = "exact" if prof.exact else f"sample of {prof.sample:,}"
    what = "largest A − B" if both else "highest mean"
    return hv.Overlay([*bars, names]).opts(hv.opts.Overlay(
        yaxis=None, xlabel="self-attention",
        title=f"Tokens: {what} · {who} · {how}", framewise=True,
        legend_position="bottom_right", show_legend=True, hooks=[*hooks, fit],
        **_plot_opts(height=560)))


def position_series(settings: CorpusSettings, prof: PositionProfile | None
                    ) -> tuple[str, tuple, list[dict]]:
    """What the position figure shows: (title, make-up, the data of each glyph in drawing
    order). The make-up is ("heads", ((head, colour), ...)): a line per shown head;
    ("mean",): the heads' range as a band, then their mean; ("empty",)."""
    ex = settings.explorer
    title = f"By token position · layer {ex.layer}"
    if prof is None or not len(prof.count):
        return title, ("empty",), []
    title += " · " + ("exact" if prof.exact else f"sample of {prof.sample:,}")
    x = np.arange(len(prof.count))
    heads = [h for h in ex.heads if h < prof.mean.shape[1]] or list(range(prof.mean.shape[1]))
    if settings.per_head:
        colors = ex.head_colors
        return title, ("heads", tuple((h, colors[h % len(colors)]) for h in heads)), [
            {"position": x, "mean": prof.mean[:, h], "count": prof.count, "head": [h] * len(x)}
            for h in heads]
    vals = prof.mean[:, heads]
    return title, ("mean",), [
        {"position": x, "low": vals.min(axis=1), "high": vals.max(axis=1)},
        {"position": x, "mean": vals.mean(axis=1), "count": prof.count}]


def position_figure(title: str, makeup: tuple, data: list[dict]):
    """The position profile (:func:`position_series`) as a plain Bokeh figure (a HoloViews
    overlay of a line per head cost ~0.2 s of the server's CPU to build, this ~0.05 s)."""
    from bokeh.models import ColumnDataSource, HoverTool, Legend, LegendItem
    from bokeh.plotting import figure

    tools = [t for t in PLOT_OPTS["default_tools"] if isinstance(t, str)]
    fig = figure(title=title, height=340, sizing_mode="stretch_width", toolbar_location="above",
                 tools=tools, active_drag="pan", active_scroll=None,
                 x_axis_label="token position", y_axis_label="mean self-attention")
    fig.add_tools(svg_save_tool())  # a tool of its own: a model lives in one document
    tips = [("position", "@position"), ("mean", "@mean{0.0000}"), ("tokens", "@count{0,0}")]
    if makeup[0] == "heads":
        items = []
        for (h, color), d in zip(makeup[1], data):
            line = fig.line("position", "mean", source=ColumnDataSource(d), line_width=1.5,
                            color=color)
            items.append(LegendItem(label=f"head {h}", renderers=[line]))
        hovered = [item.renderers[0] for item in items]
        tips = [("head", "@head"), *tips]
    elif makeup[0] == "mean":
        band = fig.varea(x="position", y1="low", y2="high", source=ColumnDataSource(data[0]),
                         fill_color="#9ecae1", fill_alpha=0.5)
        mean = fig.line("position", "mean", source=ColumnDataSource(data[1]), line_width=2,
                        color="#1f4e79")
        items = [LegendItem(label="range of the shown heads", renderers=[band]),
                 LegendItem(label="mean of the shown heads", renderers=[mean])]
        hovered = [mean]
    else:
        return fig
    fig.add_tools(HoverTool(renderers=hovered, tooltips=tips))
    fig.add_layout(Legend(items=items, click_policy="hide"), "right")
    return fig


def update_position_figure(fig, title: str, data: list[dict]) -> None:
    """New data (of the same make-up) into the figure ``fig`` made by :func:`position_figure`:
    the same models get new values, so the browser keeps the figure."""
    fig.title.text = title
    for renderer, d in zip(fig.renderers, data):
        renderer.data_source.data = d
