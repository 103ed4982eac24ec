"""The websocket frames a page received: the order of the server's messages, and what
explains a page error when one comes.

BokehJS reports "reference pNNNN isn't known" when a patch names a model the page never
got. ``Frames.explain(errors)`` says, for each model named in ``errors``, in which
received frames it was defined ({"type": "object", ..., "id": "pNNNN"}) and in which it
was only referred to, with each frame's arrival time and message header.
"""

from __future__ import annotations

import json
import re
import time

_REF = re.compile(r"\bp\d+\b")


class Frames:
    def __init__(self, page) -> None:
        self.received: list[tuple[float, str]] = []
        self._t0 = time.monotonic()
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        ws.on("framereceived", self._add)

    def _add(self, payload) -> None:
        text = payload if isinstance(payload, str) else f"<{len(payload)} binary bytes>"
        self.received.append((time.monotonic() - self._t0, text))

    def _header(self, i: int) -> str:
        """The message type and id of the Bokeh message that frame ``i`` belongs to (its
        header is the nearest earlier frame with a msgtype)."""
        for k in range(i, -1, -1):
            text = self.received[k][1]
            if '"msgtype"' in text:
                try:
                    h = json.loads(text)
                    return f"{h.get('msgtype')} {h.get('msgid')}"
                except ValueError:
                    return text[:80]
        return "?"

    def patches(self) -> list[int]:
        """The numbers of the PATCH-DOC messages received, in the order they came (the
        server numbers its messages as it makes them)."""
        out = []
        for _, text in self.received:
            if '"msgtype"' in text and "PATCH-DOC" in text:
                msgid = str(json.loads(text).get("msgid", ""))
                if not re.fullmatch(r"p\d+", msgid):
                    raise AssertionError(f"message id {msgid!r} is not a number: the order of "
                                         "the server's messages cannot be checked")
                out.append(int(msgid[1:]))
        return out

    def late(self) -> list[tuple[int, int]]:
        """(a, b) for each PATCH-DOC b received right after a, though made before it."""
        got = self.patches()
        return [(a, b) for a, b in zip(got, got[1:]) if b < a]

    def explain(self, errors: list[str]) -> str:
        lines = [f"{len(self.received)} frames received"]
        for ref in sorted({m for e in errors for m in _REF.findall(e)}):
            defined = re.compile(rf'"id":\s*"{ref}"(?!\s*\}})')  # more than a bare reference
            named = f'"{ref}"'
            for i, (t, text) in enumerate(self.received):
                if named in text:
                    kind = "defines" if defined.search(text) else "refers to"
                    lines.append(f"{ref}: frame {i} at {t:.3f} s ({self._header(i)}, "
                                 f"{len(text)} chars) {kind} it")
            if not any(named in text for _, text in self.received):
                lines.append(f"{ref}: in no received frame")
        return "\n".join(lines)
