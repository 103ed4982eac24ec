"""A browser session of the served app at the protocol level: the page over HTTP (with the
sign-in cookie), then Bokeh's websocket protocol, as Bokeh's browser client speaks it.

The session keeps an index of the document's models (pulled whole, then patched by every
message the server sends) and sends the model changes and events a browser sends when a
person uses a widget: a property change (a checkbox, a slider, a select, a tab) or a button
click. Used by the serving tests and by benchmarks/load_bench.py; asyncio, so one thread
drives many sessions.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

TOKEN_RE = re.compile(r'"token":\s*"([^"]+)"')
FORM_TOKEN_RE = re.compile(r'name="form_token" value="([^"]*)"')


class Refused(Exception):
    """The server did not let this session in (a redirect, an HTTP error, a closed socket)."""


def set_cookies(resp) -> dict[str, str]:
    """name -> value of the cookies a response sets."""
    pairs = (c.split(";", 1)[0].split("=", 1) for c in resp.headers.get_list("Set-Cookie"))
    return {k: v for k, v in pairs}


async def login_form(base: str) -> tuple[str, dict[str, str]]:
    """(the sign-in form's token, the cookies its page set) from ``base``/login."""
    resp = await AsyncHTTPClient().fetch(f"{base}/login", raise_error=False,
                                         validate_cert=False)
    m = FORM_TOKEN_RE.search(resp.body.decode("utf-8", "replace"))
    if resp.code != 200:
        raise Refused(f"the sign-in page answered {resp.code}")
    return (m.group(1) if m else ""), set_cookies(resp)


async def sign_in(base: str, username: str, password: str) -> str:
    """The ``Cookie`` header of a session signed in at ``base``/login, through the form (its
    token and cookie) as a browser does; raise Refused."""
    token, cookies = await login_form(base)
    body = urlencode({"username": username, "password": password, "next": "/apps",
                      "form_token": token})
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        resp = await AsyncHTTPClient().fetch(f"{base}/login", method="POST", body=body,
                                             headers={"Cookie": header}, validate_cert=False,
                                             follow_redirects=False, raise_error=False)
    except HTTPClientError as e:
        raise Refused(f"sign-in failed: {e}") from None
    if resp.code != 302:
        raise Refused(f"sign-in answered {resp.code}")
    return "; ".join(f"{k}={v}" for k, v in set_cookies(resp).items() if v and v != '""')


def _new_id() -> str:
    return uuid.uuid4().hex.upper()


class Session:
    """One session of the app at ``base + app`` (e.g. ``http://127.0.0.1:5006`` + ``/apps``)."""

    def __init__(self, base: str, app: str = "/apps", cookie: str = "", query: str = "") -> None:
        self.base, self.app, self.cookie, self.query = base, app, cookie, query
        self.models: dict[str, dict] = {}  # id -> {"name": ..., "attributes": {...}}
        self.changed = asyncio.Event()
        self.closed = False
        self.errors: list[str] = []
        self._ws = None
        self._reader: asyncio.Task | None = None

    # -- opening ---------------------------------------------------------------------------
    async def page(self) -> str:
        """The page's HTML; raise Refused when the server answers anything but 200."""
        headers = {"Cookie": self.cookie} if self.cookie else {}
        resp = await AsyncHTTPClient().fetch(f"{self.base}{self.app}{self.query}",
                                             headers=headers, follow_redirects=False,
                                             validate_cert=False,
                                             raise_error=False, request_timeout=120)
        if resp.code != 200:
            raise Refused(f"GET {self.app} answered {resp.code} {resp.headers.get('Location', '')}")
        return resp.body.decode("utf-8")

    async def open(self, token: str | None = None, timeout: float = 120) -> None:
        """Load the page, connect its websocket with ``token`` (default: the page's), pull the
        document and report it ready and every view on screen, as a browser does."""
        if token is None:
            m = TOKEN_RE.search(await self.page())
            if not m:
                raise Refused("the page carries no session token")
            token = m.group(1)
        await self.connect(token)
        header, _, content = await asyncio.wait_for(self._request("PULL-DOC-REQ", {}), timeout)
        if header["msgtype"] != "PULL-DOC-REPLY":
            raise Refused(f"pull answered {header['msgtype']}: {content}")
        self._index(content["doc"])
        self._reader = asyncio.ensure_future(self._read_forever())
        await self.send([{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": {
            "type": "event", "name": "document_ready", "values": {"type": "map"}}}])
        # views built when scrolled into view: a browser window tall enough shows them at once
        for mid in [k for k, m in self.models.items() if m["name"].startswith("OnScreenProbe")]:
            await self.set(mid, "seen", True)

    async def connect(self, token: str) -> None:
        """Open the websocket with ``token``; raise Refused unless the server acknowledges."""
        ws_url = self.base.replace("http", "ws", 1) + self.app + "/ws"
        headers = {"Origin": self.base}
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            request = HTTPRequest(ws_url, headers=headers, validate_cert=False)  # self-signed
            self._ws = await websocket_connect(request,
                                               subprotocols=["bokeh", token],
                                               max_message_size=100 * 1024 * 1024)
        except (HTTPClientError, OSError) as e:
            raise Refused(f"websocket refused: {e}") from None
        header, _, _ = await self._receive()
        if header is None or header["msgtype"] != "ACK":
            raise Refused(f"no ACK: {header}")

    # -- messages -----------------------------------------------------------------------------
    async def _receive(self) -> tuple[dict | None, dict | None, dict | None]:
        """One whole message (header, metadata, content; buffers read and dropped)."""
        parts = []
        while len(parts) < 3:
            frame = await self._ws.read_message()
            if frame is None:
                return None, None, None
            parts.append(json.loads(frame))
        for _ in range(2 * parts[0].get("num_buffers", 0)):
            if await self._ws.read_message() is None:
                return None, None, None
        return parts[0], parts[1], parts[2]

    async def _request(self, msgtype: str, content: dict) -> tuple[dict, dict, dict]:
        await self._send(msgtype, content)
        while True:
            header, meta, body = await self._receive()
            if header is None:
                raise Refused("the server closed the connection")
            if header["msgtype"] != "PATCH-DOC":
                return header, meta, body

    async def _send(self, msgtype: str, content: dict) -> None:
        for part in ({"msgid": _new_id(), "msgtype": msgtype}, {}, content):
            await self._ws.write_message(json.dumps(part))

    async def _read_forever(self) -> None:
        while True:
            header, _, content = await self._receive()
            if header is None:
                self.closed = True
                self.changed.set()
                return
            if header["msgtype"] == "PATCH-DOC":
                for event in content.get("events", []):
                    self._apply(event)
            elif header["msgtype"] == "ERROR":
                self.errors.append(str(content))
            self.changed.set()

    # -- the document -------------------------------------------------------------------------
    def _index(self, value) -> None:
        """Record every model object defined inside ``value``."""
        if isinstance(value, dict):
            if value.get("type") == "object" and "id" in value and "name" in value:
                entry = self.models.setdefault(value["id"], {"name": value["name"],
                                                             "attributes": {}})
                entry["attributes"].update(value.get("attributes", {}))
            for v in value.values():
                self._index(v)
        elif isinstance(value, list):
            for v in value:
                self._index(v)

    def _apply(self, event: dict) -> None:
        self._index(event)
        if event.get("kind") == "ModelChanged":
            entry = self.models.get(event["model"]["id"])
            if entry is not None:
                entry["attributes"][event["attr"]] = event["new"]

    def find(self, name: str | None, attr: str, contains=None) -> list[str]:
        """Ids of models (of type ``name``, any when None) with attribute ``attr`` (whose
        value, as text, contains ``contains`` when given)."""
        out = []
        for mid, m in self.models.items():
            if (name is None or m["name"] == name) and attr in m["attributes"]:
                if contains is None or contains in str(m["attributes"][attr]):
                    out.append(mid)
        return out

    def attr(self, mid: str, attr: str):
        return self.models[mid]["attributes"].get(attr)

    def text_with(self, needle: str) -> str | None:
        """The ``text`` of the first model whose text contains ``needle``."""
        ids = self.find(None, "text", needle)
        return str(self.attr(ids[0], "text")) if ids else None

    # -- what a browser sends -----------------------------------------------------------------
    async def send(self, events: list[dict]) -> None:
        await self._send("PATCH-DOC", {"events": events})

    async def set(self, mid: str, attr: str, value) -> None:
        """A widget property changed in the browser (e.g. a checkbox's ``active``)."""
        self.models[mid]["attributes"][attr] = value
        await self.send([{"kind": "ModelChanged", "model": {"id": mid}, "attr": attr,
                          "new": value}])

    async def click(self, mid: str) -> None:
        await self.send([{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": {
            "type": "event", "name": "button_click",
            "values": {"type": "map", "entries": [["model", {"id": mid}]]}}}])

    async def wait_for(self, condition, timeout: float = 30) -> float:
        """Wait until ``condition()`` holds after a message from the server; the seconds
        waited. Raise TimeoutError, or Refused when the connection closed."""
        start = time.perf_counter()
        deadline = start + timeout
        while not condition():
            if self.closed:
                raise Refused("the server closed the connection")
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                if not condition():
                    raise TimeoutError from None
        return time.perf_counter() - start

    async def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=10)

    def drop(self) -> None:
        """Cut the connection without a closing handshake (a browser tab killed, a network
        gone)."""
        if self._ws is not None and self._ws.protocol is not None:
            self._ws.protocol.stream.close()


def picker(s: Session) -> str:
    """The id of the store picker in a protocol-level session's document."""
    return next(m for m in s.find(None, "options") if s.attr(m, "title") == "Store")


async def server_up(base: str, timeout: float = 60) -> None:
    """Until the server at ``base`` serves its page (a server starting in a thread or a
    process refuses connections until then)."""
    deadline = time.time() + timeout
    while True:
        try:
            await Session(base).page()
            return
        except (OSError, Refused):
            if time.time() > deadline:
                raise
            await asyncio.sleep(0.2)
