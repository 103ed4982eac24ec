"""Widgets the explorer needs beyond Panel's own."""

from __future__ import annotations

import panel as pn


class ChoiceSelect(pn.widgets.Select):
    """A Select whose options may include the value None (Panel leaves a value of None out of
    the browser's first copy of the widget, which then shows no option selected)."""

    def _init_params(self) -> dict:
        params = super()._init_params()
        if self.value is None and None in self.values:
            params["value"] = None
        return params
