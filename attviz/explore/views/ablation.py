"""Switching heads off for the selected instance (beside the layers x heads view): which
heads are off and how to choose them, and the class probabilities with those heads off
beside the stored ones. Plain HTML for the numbers; every label name is escaped."""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param

from ..ablation_data import heads_text
from ..state import Explorer
from ..style import class_colors

STYLE = """
.av-ablation { font: 13px system-ui, sans-serif; }
.av-ablation table { border-collapse: collapse; margin-top: 6px; }
.av-ablation th, .av-ablation td { padding: 2px 8px; border-bottom: 1px solid #eee;
                                   text-align: left; }
.av-ablation td.av-num { text-align: right; font-variant-numeric: tabular-nums; }
.av-ablation .av-bar { display: inline-block; height: 10px; vertical-align: middle;
                       border-radius: 2px; }
.av-ablation .av-changed { color: #b02a37; font-weight: 600; font-size: 14px; }
.av-ablation .av-same { color: #2c6e2f; font-weight: 600; font-size: 14px; }
.av-ablation .av-problem { color: #842029; }
"""


def _bar(p: float, color: str) -> str:
    return (f'<span class="av-bar" style="width:{120 * p:.1f}px;background:{color}"></span> '
            f"{p:.4f}")


def instance_html(ex: Explorer) -> str:
    """The heads off, the status, and the stored against the new probabilities."""
    ab = ex.ablation
    off = heads_text(ab.heads_off)
    head = (f"<div>Switched off: <b>{html.escape(off)}</b></div>" if off else
            "<div>No head is switched off: tick “a click on a cell switches the head off / "
            "on” and click cells of the grid, or use the buttons.</div>")
    status = ""
    if ab.status:
        cls = "av-problem" if ab.problem else "av-status"
        status = f'<div class="{cls}">{html.escape(ab.status)}</div>'
    res, inst = ab.current(), ex.current()
    if res is None or inst is None:
        return f'<div class="av-ablation">{head}{status}</div>'
    names, colors = ex.label_names, class_colors(len(ex.label_names))
    new, old = res.probabilities.astype(np.float64), inst.probabilities.astype(np.float64)
    before, after = int(old.argmax()), int(new.argmax())
    if before != after:
        verdict = (f'<div class="av-changed">Prediction changed: '
                   f"{html.escape(names[before])} → {html.escape(names[after])}</div>")
    else:
        verdict = (f'<div class="av-same">Prediction unchanged: {html.escape(names[after])} '
                   f"({old[after]:.3f} → {new[after]:.3f})</div>")
    rows = "".join(
        f"<tr><td>{html.escape(names[i])}{' (gold)' if i == inst.label else ''}</td>"
        f'<td>{_bar(old[i], colors[i])}</td><td>{_bar(new[i], colors[i])}</td>'
        f'<td class="av-num">{new[i] - old[i]:+.4f}</td></tr>'
        for i in np.argsort(-new))
    table = ("<table class='av-ablation-table'><thead><tr><th>class</th><th>stored</th>"
             f"<th>with {html.escape(off)} off</th><th>change</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>")
    return f'<div class="av-ablation">{head}{verdict}{table}{status}</div>'


class InstanceAblationView(pn.viewable.Viewer):
    """Controls and result of switching heads off for the selected instance."""

    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        ex = self.explorer
        ab = ex.ablation
        self.pane = pn.pane.HTML(instance_html(ex), stylesheets=[STYLE],
                                 sizing_mode="stretch_width", css_classes=["av-ablation-pane"])
        update = lambda *_: setattr(self.pane, "object", instance_html(ex))  # noqa: E731
        ab.param.watch(update, ["heads_off", "result", "status", "busy", "problem"])
        ex.param.watch(update, ["instance", "error"])
        layer = pn.widgets.Button(name=f"all heads of layer {ex.layer}", button_type="light",
                                  css_classes=["av-layer-off"])
        layer.on_click(lambda e: ab.layer_off())
        ex.param.watch(lambda e: setattr(layer, "name", f"all heads of layer {e.new}"), "layer")
        top = pn.widgets.Button(name="the k most important heads of the slice",
                                button_type="light", css_classes=["av-top-heads"],
                                description="mean |dL/dg| over the sidebar's slice "
                                "(needs precompute --importance)")
        top.on_click(lambda e: ab.most_important())
        clear = pn.widgets.Button(name="all heads on", button_type="light")
        clear.on_click(lambda e: setattr(ab, "heads_off", []))
        self.controls = pn.Row(
            pn.widgets.Checkbox.from_param(ab.param.click_toggles, margin=(12, 10)),
            layer, pn.widgets.IntInput.from_param(ab.param.k, width=60, name=""), top, clear,
            sizing_mode="stretch_width")
        self.busy = pn.indicators.LoadingSpinner(value=False, size=20, visible=False)
        ab.param.watch(lambda e: self.busy.param.update(value=e.new, visible=e.new), "busy")

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Switch heads off", margin=(0, 10)),
                         self.controls, pn.Row(self.pane, self.busy),
                         sizing_mode="stretch_width")
