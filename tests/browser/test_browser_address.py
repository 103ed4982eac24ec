"""A link copied from the address bar opens the same slice and instance in a new page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import numpy as np

from tests.helpers.browser import Page
from tests.helpers.raw import instance_columns
from tests.helpers.waiting import until


def test_a_copied_link_opens_the_same_slice(browser, server, tiny_store):
    r = instance_columns(tiny_store)
    total = len(r["label"])
    wrong = (r["label"] >= 0) & (r["label"] != r["prediction"])
    gold = int(r["label"][np.flatnonzero(wrong)[0]])  # a gold label with errors
    want = wrong & (r["label"] == gold)
    page = Page(browser, server.url)
    page.wait_ready()
    page.page.locator(".bk-Checkbox", has_text="misclassified only").locator(
        "input[type=checkbox]").check()
    page.wait_text(".av-count", f"{int(wrong.sum()):,} of {total:,} instances")
    boxes = page.page.locator(".bk-CheckboxGroup").first
    boxes.locator("input[type=checkbox]").nth(gold).check()
    page.wait_text(".av-count", f"{int(want.sum()):,} of {total:,} instances")
    row = min(1, int(want.sum()) - 1)
    page.page.locator(".av-table-row").nth(row).click()
    chosen = int(np.flatnonzero(want)[row])
    page.wait_text(".av-instance", f"instance {chosen:,} ")

    def address() -> dict:
        return parse_qs(urlparse(page.page.url).query)

    until(lambda: address().get("instance") == [str(chosen)], "the address names the instance",
          on_fail=address)
    link = page.page.url
    assert address()["misclassified"] == ["1"] and len(address()["gold"]) == 1
    page.close()

    again = Page(browser, link)
    again.wait_ready()
    again.wait_text(".av-count", f"{int(want.sum()):,} of {total:,} instances")
    again.wait_text(".av-instance", f"instance {chosen:,} ")
    assert again.page.locator(".bk-Checkbox", has_text="misclassified only").locator(
        "input[type=checkbox]").is_checked()
    shown = again.page.locator(".bk-CheckboxGroup").first.locator("input[type=checkbox]")
    assert [shown.nth(i).is_checked() for i in range(shown.count())] == [
        i == gold for i in range(shown.count())]
    assert again.page.url == link
    assert again.errors() == []
    again.close()
