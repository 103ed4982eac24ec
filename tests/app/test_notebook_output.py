"""The explorer as a notebook output, without a kernel: Panel's stylesheets as data: URLs, the
page's height, and the sentence for front ends that cannot run it."""

from __future__ import annotations

import base64

import panel as pn
from bokeh.document import Document
from bokeh.models import ImportedStyleSheet
from panel.io.resources import CDN_DIST, DIST_DIR, LOCAL_DIST

import attviz
from attviz.explore import notebook
from tests.helpers.paths import STORE_V1_0


def test_panel_stylesheet_urls_become_data_urls_of_the_local_files():
    css = (DIST_DIR / "css" / "loading.css").read_bytes()
    for url in (f"{CDN_DIST}css/loading.css?v=1", f"{LOCAL_DIST}css/loading.css"):
        inlined = notebook.inline_url(url)
        assert inlined.startswith("data:text/css;base64,")
        assert base64.b64decode(inlined.split(",", 1)[1]) == css
    for url in ("https://example.org/x.css", f"{CDN_DIST}css/no-such-file.css", "data:,x"):
        assert notebook.inline_url(url) == url


def test_stylesheet_cache_inlines_what_is_put_into_it():
    sheet = ImportedStyleSheet(url=f"{CDN_DIST}bundled/theme/default.css")
    other = ImportedStyleSheet(url="https://example.org/x.css")
    cache = notebook.InlineStyleSheets({"a": sheet})
    cache["b"] = other
    assert cache["a"] is sheet and sheet.url.startswith("data:text/css;base64,")
    assert cache["b"].url == "https://example.org/x.css"


def test_in_a_kernel_the_explorer_has_a_fixed_height_and_removes_the_note(monkeypatch):
    monkeypatch.setattr(notebook, "in_kernel", lambda: True)
    monkeypatch.setattr(notebook, "load", lambda: None)  # publishing needs a kernel
    app = attviz.explorer(STORE_V1_0)
    assert isinstance(app, notebook.NotebookExplorer)
    assert app.height == notebook.NOTEBOOK_HEIGHT and app.sizing_mode == "stretch_width"
    started = [o for o in app.objects if isinstance(o, notebook.Started)]
    assert [s.note for s in started] == [app.note_id] and app.note_id.startswith("av-note-")
    app.get_root(Document())  # renders: note_id is not a property of the Bokeh model
    assert "." not in notebook.CANNOT_RUN[:-1].replace("attviz.explorer(path).show()", "")


def test_outside_a_kernel_the_explorer_is_the_served_page():
    app = attviz.explorer(STORE_V1_0)
    assert type(app) is pn.Column and app.sizing_mode == "stretch_both"
    assert not notebook.in_kernel() and not notebook.loaded()
