"""The instance table's browser side: one page of rows as a plain HTML table, one model.

A general-purpose grid costs a page ~30 Bokeh models (a column, a formatter and an editor
for each of its columns) and its script in the browser; the instance table needs none of
that: the server sorts and pages, the cells are text formatted on the server, a click
picks a row. Cells are set as text (``textContent``), so corpus strings never become HTML.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import param
from panel.custom import JSComponent


def cell_text(value, fmt: str | None) -> str:
    """A cell as the table shows it: numbers with thousands separators, ``fmt`` "0.000":
    three decimals."""
    if fmt == "0.000":
        return f"{float(value):.3f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def table_payload(frame: pd.DataFrame, columns: list[dict]) -> str:
    """The JSON the browser draws: the columns of ``frame`` as ``columns`` describes them
    (``name``, ``title``, ``width`` in px, ``align``, optional ``format`` "0.000"), each
    row's cells as text."""
    spec = {c["name"]: c for c in columns}
    formats = [spec[name].get("format") for name in frame.columns]
    rows = [[cell_text(v, f) for v, f in zip(rec, formats)]
            for rec in frame.itertuples(index=False)]
    heads = [{k: spec[name][k] for k in ("title", "width", "align")} for name in frame.columns]
    return json.dumps({"columns": heads, "rows": rows})


class RowTable(JSComponent):
    """``payload`` (see :func:`table_payload`) is drawn, its row ``selected`` highlighted
    (-1: none; a change of the selection alone sends one number); ``picked`` is the row a
    person clicked last (set to -1, then to the row, so that each click is a change)."""

    payload = param.String(default='{"columns": [], "rows": []}')
    selected = param.Integer(default=-1)
    picked = param.Integer(default=-1, doc="the row last clicked, set by the browser")

    _esm = """
    export function render({ model, el }) {
      const box = document.createElement("div");
      box.className = "av-table";
      el.appendChild(box);
      let rows = [];
      function select() {
        const i = model.selected;
        rows.forEach((tr, j) => tr.classList.toggle("av-table-selected", j === i));
        const shown = rows[i];
        if (shown) {  // keep the selected row in sight, within the table's own scroll
          const head = box.querySelector("thead").offsetHeight;
          const top = shown.offsetTop - head;
          if (top < box.scrollTop
              || top + shown.offsetHeight > box.scrollTop + box.clientHeight - head) {
            box.scrollTop = Math.max(0, top);
          }
        }
      }
      function draw() {
        const data = JSON.parse(model.payload);
        const table = document.createElement("table");
        const head = table.createTHead().insertRow();
        for (const c of data.columns) {
          const th = document.createElement("th");
          th.textContent = c.title;
          th.style.width = c.width + "px";
          th.style.textAlign = c.align;
          head.appendChild(th);
        }
        const body = table.createTBody();
        rows = data.rows.map((cells, i) => {
          const tr = body.insertRow();
          tr.className = "av-table-row";
          cells.forEach((text, j) => {
            const td = tr.insertCell();
            td.className = "av-table-cell";
            td.textContent = text;
            td.title = text;
            td.style.textAlign = data.columns[j].align;
          });
          tr.addEventListener("click", () => { model.picked = -1; model.picked = i; });
          return tr;
        });
        box.replaceChildren(table);
        box.scrollTop = 0;
        select();
      }
      model.on("payload", draw);
      model.on("selected", select);
      draw();
    }
    """

    _stylesheets = ["""
    .av-table { height: 100%; overflow-y: auto; border: 1px solid #ccc; background: white;
                font: 12px system-ui, sans-serif; }
    .av-table table { border-collapse: collapse; table-layout: fixed; width: 100%; }
    .av-table th { position: sticky; top: 0; background: #e6e6e6; font-weight: 600;
                   padding: 4px 3px; border-bottom: 1px solid #aaa; border-right: 1px solid #ccc;
                   white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .av-table-cell { padding: 4px 3px; border-right: 1px solid #eee; white-space: nowrap;
                     overflow: hidden; text-overflow: ellipsis; }
    .av-table-row { cursor: pointer; }
    .av-table-row:nth-child(even) { background: #f6f6f6; }
    .av-table-row:hover { background: #dde7f3; }
    .av-table-row.av-table-selected { background: #9abcea; }
    """]
