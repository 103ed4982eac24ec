"""The store picker: a Select of the stores the session may open.

A browser can only pick one of the listed names; a name the picker does not list arrives
only from a modified browser or a hand-made message. It is not passed to the widget (Panel
would fail on it) but to the session as a request by name, like ``?store=NAME``, so it gets
the same answer: opened if it is a store the session may open, else refused with the message
a path outside the root gets, and logged with the signed-in user's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn


class StorePicker(pn.widgets.Select):
    """A Select on ``Explorer.store_name`` whose unlisted values go to ``request``."""

    def __init__(self, request: Callable[[str], object] | None = None, **params) -> None:
        self._request = request
        super().__init__(**params)

    @classmethod
    def of(cls, explorer, **params) -> StorePicker:
        picker = cls.from_param(explorer.param.store_name, **params)
        picker._request = explorer.request_store
        return picker

    def _process_property_change(self, props: dict[str, Any]) -> dict[str, Any]:
        value = props.get("value")
        if isinstance(value, str) and value and value not in self.unicode_values \
                and value not in self.labels:
            props = {k: v for k, v in props.items() if k != "value"}
            if self._request is not None:
                self._request(value)
        return super()._process_property_change(props)
