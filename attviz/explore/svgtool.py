"""Save as SVG: a toolbar button that every plot built with the shared plot options gets
(``PLOT_OPTS["default_tools"]`` in :mod:`.style`), beside Bokeh's own PNG save tool.

The browser draws the figure again into Bokeh's SVG canvas (the figure's ``export("svg")``,
what Bokeh's own export uses) and downloads the result, named after the figure's title.
HoloViews copies the tool into every figure it builds, so one definition serves all.
"""

from __future__ import annotations

import base64

from bokeh.models import CustomAction, CustomJS

ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">'
        '<rect x="1.5" y="5.5" width="21" height="13" rx="2" fill="none" stroke="#555"/>'
        '<text x="12" y="15.5" font-family="sans-serif" font-size="8.5" font-weight="700" '
        'text-anchor="middle" fill="#555">SVG</text></svg>')

SAVE_SVG = """
const view = Bokeh.index.query_one((v) => v.model != null && v.model.toolbar != null
  && v.model.toolbar.tools.includes(cb_obj) && typeof v.export === "function");
if (view == null) { return; }
const title = view.model.title != null && view.model.title.text ? view.model.title.text : "plot";
const name = title.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 80);
view.export("svg").to_blob().then((blob) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = (name || "plot") + ".svg";
  link.dispatchEvent(new MouseEvent("click"));
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
});
"""


def svg_save_tool() -> CustomAction:
    """The toolbar button that saves its figure as an SVG file."""
    icon = "data:image/svg+xml;base64," + base64.b64encode(ICON.encode()).decode()
    return CustomAction(icon=icon, description="Save as SVG",
                        callback=CustomJS(code=SAVE_SVG), name="attviz-save-svg")
