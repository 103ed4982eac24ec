"""Views below the fold are built when the browser scrolls them into view, not before.

A page's first render is bounded by what it builds: on two cores each Bokeh figure costs
~0.4 s of a page load (the server builds it through HoloViews, the browser lays it out and
paints it). ``OnScreen`` holds a light placeholder where a view goes; the placeholder's
browser side watches it with an ``IntersectionObserver`` and reports once that it is on
screen, and only then is the view itself built and sent. A view that is on screen at load
(a tall window) is built at once, right after the page.
"""

from __future__ import annotations

from collections.abc import Callable

import panel as pn
import param
from panel.custom import JSComponent


class OnScreenProbe(JSComponent):
    """The placeholder: a box with a short text; ``seen`` turns True (once) when any part of
    it is inside the browser window."""

    seen = param.Boolean(default=False, doc="set by the browser when scrolled into view")
    label = param.String(default="")

    _esm = """
    export function render({ model, el }) {
      const box = document.createElement("div");
      box.className = "av-lazy";
      box.textContent = model.label;
      el.appendChild(box);
      if (model.seen) { return; }
      const watch = new IntersectionObserver((entries) => {
        box.dataset.checked = "true";  // looked at least once (readable by page scripts)
        if (entries.some(e => e.isIntersecting)) {
          watch.disconnect();
          model.seen = true;
        }
      });
      watch.observe(box);
    }
    """

    _stylesheets = ["""
    .av-lazy { height: 100%; display: flex; align-items: center; justify-content: center;
               color: #888; font: 14px system-ui, sans-serif; background: #f7f7f7;
               border-radius: 6px; }
    """]


class OnScreen(pn.viewable.Viewer):
    """``make()`` rendered in place of a placeholder once the placeholder is on screen.

    ``show()`` builds the view at once (for use without a browser, e.g. in tests).
    """

    def __init__(self, make: Callable[[], object], label: str, height: int) -> None:
        super().__init__()
        self._make = make
        self.probe = OnScreenProbe(label=label, height=height, sizing_mode="stretch_width")
        self.box = pn.Column(self.probe, sizing_mode="stretch_width", min_height=height,
                             margin=0)
        self.probe.param.watch(self._on_seen, "seen")

    @property
    def shown(self) -> bool:
        return self.probe not in self.box.objects

    def show(self) -> None:
        if not self.shown:
            self.box.objects = [self._make()]

    def _on_seen(self, event) -> None:
        if event.new:
            self.show()

    def __panel__(self):
        return self.box
