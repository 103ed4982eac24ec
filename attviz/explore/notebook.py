"""The explorer inline in a Jupyter notebook (JupyterLab, Jupyter Notebook 7), with no request
leaving the Jupyter server.

Panel's notebook output loads Bokeh's and Panel's JavaScript and CSS from a CDN unless told
to inline them, and each ``hv.extension(...)`` or ``pn.extension(...)`` call in a kernel
publishes the resources again (HoloViews' in CDN mode unless given ``inline=True``). So in a
kernel the explorer loads them itself, once, inlined (``pn.extension(..., inline=True)``:
Bokeh, its widgets, tables and WebGL parts, Panel with es-module-shims), and builds its
pages without calling either extension again. A reloaded page runs the saved output that
holds them (a notebook saved after the run); a restarted kernel publishes them again. Panel
inlines the stylesheets of a first render only: what later updates send goes through
:class:`InlineStyleSheets`, as data: URLs.

The output starts with one sentence saying what to do where the explorer cannot run (a
front end that runs no scripts, or lacks Bokeh): shown after a few seconds, removed by the
explorer when it renders.
"""

from __future__ import annotations

import base64
import builtins
import functools
import html
import uuid

import panel as pn
import param
from bokeh.models import ImportedStyleSheet
from panel.custom import JSComponent
from panel.io.resources import CDN_DIST, DIST_DIR, LOCAL_DIST
from panel.io.state import state

NOTEBOOK_HEIGHT = 900  # the explorer's height in a notebook output (the page's is the window)
CANNOT_RUN = (
    "If this sentence stays, this front end cannot run the attviz explorer (it ran none of its "
    "scripts, or has no Bokeh): open the notebook in JupyterLab or Jupyter Notebook 7 (pip "
    "install jupyterlab), trust it and run the cell again, or call "
    "attviz.explorer(path).show() for a browser tab.")
# shown after a few seconds (a CSS animation: no script needed), removed when the page renders
NOTE_CSS = """
.av-cannot-run { visibility: hidden; animation: av-reveal 0s linear 3s forwards;
  font: 14px system-ui, sans-serif; color: #5c4300; background: #fff3cd;
  border: 1px solid #ffe69c; border-radius: 6px; padding: 10px 14px; margin: 4px 0; }
@keyframes av-reveal { to { visibility: visible; } }
"""

_loaded = False


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (an IPython shell with a kernel)."""
    if not hasattr(builtins, "__IPYTHON__"):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def loaded() -> bool:
    """Whether this kernel has published the explorer's resources to the notebook."""
    return _loaded


def load() -> None:
    """Publish Bokeh's, HoloViews' and Panel's resources to the notebook, inlined, once per
    kernel; later Panel output in this kernel inlines its stylesheets too."""
    global _loaded
    if _loaded:
        return
    import holoviews as hv

    # the notebook's own hv.extension(...) published Bokeh (from a CDN unless inline=True);
    # pn.extension then sends only Panel's part, so Bokeh is published here once more, inlined
    earlier = getattr(hv.extension, "_loaded", False)
    pn.config.inline = True
    pn.extension(inline=True, notifications=False)
    if earlier:
        from panel.io.notebook import load_notebook

        load_notebook(inline=True)
    _loaded = True


@functools.cache
def _data_url(path: str) -> str | None:
    """``path`` (a file of Panel's dist folder) as a data: URL, or None when it has none."""
    file = DIST_DIR / path
    if not file.is_file():
        return None
    return "data:text/css;base64," + base64.b64encode(file.read_bytes()).decode("ascii")


def inline_url(url: str) -> str:
    """A URL of Panel's own stylesheets (on its CDN or its server path) as a data: URL that
    holds the file; any other URL as it is."""
    for prefix in (CDN_DIST, LOCAL_DIST):
        if url.startswith(prefix):
            return _data_url(url[len(prefix):].split("?")[0]) or url
    return url


class InlineStyleSheets(dict):
    """A document's stylesheet cache (Panel's ``state._stylesheets[doc]``, URL -> imported
    stylesheet) whose stylesheets import data: URLs instead of Panel's CDN.

    Panel inlines stylesheets for a notebook's first render only: a pane whose object changes
    later sends its stylesheets again, imported from the CDN (panel#8707 fixed the
    version query, not this). Every such stylesheet passes through this cache, by URL, before
    it is sent; a data: URL is left alone by Panel's later rewriting of URLs."""

    def __init__(self, items) -> None:
        super().__init__()
        for url, sheet in dict(items).items():
            self[url] = sheet

    def __setitem__(self, url, sheet) -> None:
        if isinstance(sheet, ImportedStyleSheet):
            inlined = inline_url(str(sheet.url))
            if inlined != sheet.url:
                sheet.url = inlined
        super().__setitem__(url, sheet)


def inline_later_stylesheets(viewable: pn.viewable.Viewable) -> None:
    """Make the stylesheet caches of the documents ``viewable`` was rendered into inline."""
    for model, _ in list(viewable._models.values()):
        doc = model.document
        if doc is not None and not isinstance(state._stylesheets.get(doc), InlineStyleSheets):
            state._stylesheets[doc] = InlineStyleSheets(state._stylesheets.get(doc, {}))


class Started(JSComponent):
    """Removes the output's "cannot run" sentence (the element with id ``note``) when the
    explorer renders."""

    note = param.String(default="")

    _esm = """
    export function render({ model }) {
      const note = document.getElementById(model.note);
      if (note !== null) { note.remove(); }
    }
    """


class NotebookExplorer(pn.Column):
    """The explorer's page as shown in a notebook: a fixed height (a notebook output has none
    to stretch to) and, before the page, the sentence for front ends that cannot run it."""

    note_id = param.String(default="", doc="the id of the output's note element")

    _rename = {**pn.Column._rename, "note_id": None}  # not a property of the Bokeh model

    def __init__(self, *objects, **params) -> None:
        params.setdefault("note_id", f"av-note-{uuid.uuid4().hex}")
        super().__init__(*objects, **params)
        self.append(Started(note=self.note_id, height=0, width=0, margin=0))

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = super()._repr_mimebundle_(include, exclude)
        if not bundle:
            return bundle
        inline_later_stylesheets(self)
        data, meta = bundle
        if "text/html" in data:
            note = (f'<div id="{self.note_id}" class="av-cannot-run"><style>{NOTE_CSS}</style>'
                    f"{html.escape(CANNOT_RUN)}</div>")
            data = {**data, "text/html": note + data["text/html"]}
        return data, meta
