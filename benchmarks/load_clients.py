"""What the load benchmark's users do: protocol-level sessions (tests/helpers/wsclient.py) that act
as a person does in a browser, and real Chromium pages that check what they show.

A protocol user signs in, opens the app and repeats until the deadline: misclassified
only on, 20 steps with "next ›" (with "‹ previous" every other round), one layer down, the
corpus view (when the app has a tab of that title), misclassified only off; each action
timed from sending the change until the server's answer shows it, with a pause between
actions. A browser user signs in and steps with "next ›", checking each instance's title
and tokens against the store.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

from tests.helpers.wsclient import Refused, Session, sign_in

ACTION_TIMEOUT = 30.0


@dataclass
class Results:
    # action -> [(when it started, time.monotonic; seconds it took)]
    latencies: dict = field(default_factory=lambda: defaultdict(list))
    errors: list = field(default_factory=list)
    lost: int = 0
    corpus_view: bool | None = None  # whether the app had the corpus tab
    browser_checks: int = 0
    browser_wrong: list = field(default_factory=list)


def _model(s: Session, attr: str, value, kind: str | None = None) -> str:
    """The first model whose ``attr`` is ``value`` (and whose type is ``kind``)."""
    return next(m for m in s.find(kind, attr) if s.attr(m, attr) == value)


def _first_number(text: str | None) -> int | None:
    m = re.search(r"<b>([\d,]+)</b>", html.unescape(text or ""))  # Panel sends HTML escaped
    return int(m.group(1).replace(",", "")) if m else None


# the titles of the corpus view's figures (the head grid's: "<statistic>: mean per head ...")
CORPUS_FIGURES = ("Confusion", "per head (click", "Tokens", "By token position")


def _corpus_shows_the_slice(s: Session) -> bool:
    """The corpus view shows the slice the sidebar counts (its summary's first number is the
    count) and all its figures: true at once when the view already holds that slice (a
    second visit with the same filters: nothing to send), else when the server's update
    has arrived (the first visit: the figures too, which come after the summary)."""
    count = _first_number(s.text_with("av-count"))
    if count is None or _first_number(s.text_with("av-corpus-summary")) != count:
        return False
    titles = [str(s.attr(m, "text")) for m in s.find("Title", "text")]
    return all(any(part in t for t in titles) for part in CORPUS_FIGURES)


def _tab_index(s: Session, title: str) -> tuple[str, int] | None:
    for tabs in s.find("panel.models.tabs.Tabs", "tabs"):
        for i, ref in enumerate(s.attr(tabs, "tabs")):
            if s.models.get(ref["id"], {}).get("attributes", {}).get("title") == title:
                return tabs, i
    return None


async def protocol_user(base: str, name: str, password: str, deadline: float, think: float,
                        corpus_tab: str, results: Results, rng: random.Random) -> None:
    """One person's session, until ``deadline`` (time.monotonic)."""

    doing = ["sign-in"]  # the action under way, named in an error

    async def act(action: str, send, done) -> None:
        """Time ``send`` (a coroutine not yet run) until ``done()`` holds."""
        doing[0] = action
        when, start = time.monotonic(), time.perf_counter()
        await send
        await s.wait_for(done, ACTION_TIMEOUT)
        results.latencies[action].append((when, time.perf_counter() - start))
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    s = None
    try:
        cookie = await sign_in(base, name, password)
        s = Session(base, cookie=cookie)
        doing[0] = "open"
        when, start = time.monotonic(), time.perf_counter()
        await s.open()
        await s.wait_for(lambda: s.text_with("av-instance") is not None, ACTION_TIMEOUT)
        results.latencies["open"].append((when, time.perf_counter() - start))
        misclassified = _model(s, "label", "misclassified only")
        # forward 20, then back 20: the steps stay inside the filtered instances
        steps = [_model(s, "label", "next ›"), _model(s, "label", "‹ previous")]
        layer = _model(s, "title", "layer", "Slider")  # the sidebar's, not the corpus view's
        while time.monotonic() < deadline:
            count = s.text_with("av-count")
            await act("misclassified only", s.set(misclassified, "active", True),
                      lambda c=count: s.text_with("av-count") != c)
            for _ in range(20):
                title = s.text_with("av-instance")
                await act("instance switch", s.click(steps[0]),
                          lambda t=title: s.text_with("av-instance") != t)
                if time.monotonic() >= deadline:
                    return
            new = (s.attr(layer, "value") - 1) % ((s.attr(layer, "end") or 0) + 1)
            await act("layer", s.set(layer, "value", new),
                      lambda n=new: any(str(s.attr(m, "text")).startswith(
                          f"Self-attention, layer {n}:") for m in s.find("Title", "text")))
            tab = _tab_index(s, corpus_tab)
            results.corpus_view = tab is not None
            if tab is not None:
                await act("corpus view", s.set(tab[0], "active", tab[1]),
                          lambda: _corpus_shows_the_slice(s))
                await s.set(tab[0], "active", 0)
            steps.reverse()
            count = s.text_with("av-count")
            await act("misclassified only off", s.set(misclassified, "active", False),
                      lambda c=count: s.text_with("av-count") != c)
    except (Refused, TimeoutError, OSError, StopIteration) as e:
        results.lost += 1
        results.errors.append(f"{name}, {doing[0]}: {type(e).__name__}: {e}")
    finally:
        if s is not None:
            results.errors.extend(f"{name}: server error {e}" for e in s.errors)
            await s.close()


async def protocol_users(base: str, users: list[tuple[str, str]], seconds: float, think: float,
                         corpus_tab: str, results: Results, ramp: float = 10.0) -> None:
    """All protocol users at once, their starts spread over ``ramp`` seconds."""
    deadline = time.monotonic() + seconds
    rng = random.Random(0)

    async def started(i: int, name: str, password: str) -> None:
        await asyncio.sleep(ramp * i / max(1, len(users)))
        await protocol_user(base, name, password, deadline, think, corpus_tab, results,
                            random.Random(rng.random()))

    await asyncio.gather(*(started(i, n, p) for i, (n, p) in enumerate(users)))


class BrowserUser:
    """A Chromium page stepping through instances with "next ›", checking each instance's
    title and tokens against the store."""

    def __init__(self, browser, url: str, name: str, password: str, store, results: Results):
        self.name, self.store, self.results, self.k = name, store, results, 0
        self.page = browser.new_page(viewport={"width": 1500, "height": 1250})
        self.page.goto(url)
        self.page.wait_for_url("**/login?next=*", timeout=60000)
        self.page.fill("#username", name)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector(".av-tok", timeout=120000)
        self.ok = True

    def step(self) -> None:
        if not self.ok:
            return
        self.page.get_by_role("button", name="next ›").click()
        self.k += 1
        try:
            self.page.locator(".av-instance").first.filter(
                has_text=f"instance {self.k:,} ").wait_for(timeout=ACTION_TIMEOUT * 1000)
            want = self.store.read_instance(self.k).tokens
            labels = self.page.locator(".av-label")  # CSS locators pierce shadow roots
            until = time.monotonic() + ACTION_TIMEOUT
            while labels.all_inner_texts() != want:
                if time.monotonic() > until:
                    raise TimeoutError("the tokens shown are not the instance's")
                time.sleep(0.05)
            self.results.browser_checks += 1
        except Exception as e:  # noqa: BLE001 - a wrong page is a result, not a crash
            self.results.browser_wrong.append(f"{self.name} instance {self.k}: {e}")
            self.ok = False

    def close(self) -> None:
        self.page.close()
