"""The classifier's class probabilities: one stacked bar in fixed class colours with the gold
class marked, correct or incorrect said, and a details table. Plain HTML (cheap to render);
every label name is escaped."""

from __future__ import annotations

import html

import numpy as np
import panel as pn
import param

from ..state import Explorer
from ..style import class_colors


def probabilities_html(ex: Explorer) -> str:
    inst = ex.current()
    if inst is None:
        return '<div class="av-probs">no instance</div>'
    names = ex.label_names
    colors = class_colors(len(names))
    p = inst.probabilities.astype(np.float64)
    if inst.label < 0:
        verdict, vclass = "no gold label", "av-unknown"
    elif inst.label == inst.prediction:
        verdict, vclass = "correct", "av-correct"
    else:
        verdict, vclass = "incorrect", "av-incorrect"
    segs = []
    for i, (name, prob) in enumerate(zip(names, p)):
        gold = " av-gold" if i == inst.label else ""
        label = html.escape(name)
        text = label if prob >= 0.12 else ""
        segs.append(
            f'<div class="av-seg{gold}" data-class="{i}" title="{label}: {prob:.4f}" '
            f'style="width:{100 * prob:.3f}%;background:{colors[i]}">{text}</div>')
    rows = []
    for i in np.argsort(-p):
        rows.append(
            f'<tr class="{"av-gold-row" if i == inst.label else ""}"><td>'
            f'<span class="av-swatch" style="background:{colors[i]}"></span>'
            f"{html.escape(names[i])}</td><td class=\"av-num\">{p[i]:.4f}</td>"
            f"<td>{'gold' if i == inst.label else ''}</td>"
            f"<td>{'predicted' if i == inst.prediction else ''}</td></tr>")
    gold_name = html.escape(names[inst.label]) if inst.label >= 0 else "unknown"
    return f"""
<div class="av-probs">
  <div class="av-verdict {vclass}">predicted <b>{html.escape(names[inst.prediction])}</b>
    ({p[inst.prediction]:.3f}), gold <b>{gold_name}</b>: {verdict}</div>
  <div class="av-bar">{''.join(segs)}</div>
  <table class="av-ptable"><thead><tr><th>class</th><th>probability</th><th></th><th></th>
  </tr></thead><tbody>{''.join(rows)}</tbody></table>
</div>"""


STYLE = """
.av-probs { font-family: system-ui, sans-serif; font-size: 13px; height: 100%; overflow-y: auto; }
.av-verdict { font-size: 14px; margin-bottom: 6px; }
.av-correct::after { content: " ✓"; color: #2ca02c; font-weight: 700; }
.av-incorrect::after { content: " ✗"; color: #d62728; font-weight: 700; }
.av-bar { display: flex; height: 30px; border: 1px solid #888; border-radius: 3px;
          overflow: visible; margin-bottom: 8px; }
.av-seg { height: 100%; color: white; font-size: 12px; line-height: 30px; overflow: hidden;
          white-space: nowrap; text-align: center; box-sizing: border-box; }
.av-gold { outline: 3px solid #111; outline-offset: -3px; }
.av-ptable { border-collapse: collapse; width: 100%; }
.av-ptable th, .av-ptable td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
.av-ptable .av-num { text-align: right; font-variant-numeric: tabular-nums; }
.av-gold-row { font-weight: 600; }
.av-swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px;
             border-radius: 2px; }
"""


class ProbabilitiesView(pn.viewable.Viewer):
    explorer = param.ClassSelector(class_=Explorer)

    def __init__(self, **params):
        super().__init__(**params)
        ex = self.explorer
        self.pane = pn.pane.HTML(probabilities_html(ex), stylesheets=[STYLE],
                                 sizing_mode="stretch_width", height=self._height())
        ex.param.watch(lambda *_: setattr(self.pane, "object", probabilities_html(ex)),
                       ["instance", "error"])
        ex.param.watch(lambda *_: setattr(self.pane, "height", self._height()), "store_name")

    def _height(self) -> int:
        """Fixed for a store (a row per class), so switching instances never reflows."""
        return 90 + 23 * min(len(self.explorer.label_names) or 1, 12)

    def __panel__(self):
        return self.pane
