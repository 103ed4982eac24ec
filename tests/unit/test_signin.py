"""The sign-in's pieces without a server: the throttle's memory whatever the names, where
sign-in may send a browser, which names a user may have, how the log shows a typed name."""

from __future__ import annotations

import tracemalloc

import pytest

from attviz.errors import UserError
from attviz.lab.identity import short
from attviz.lab.signin import safe_next
from attviz.lab.throttle import MAX_FAILURES, Failures, key
from attviz.lab.users import check_name


def test_the_throttle_keeps_bounded_memory_whatever_the_names():
    failures = Failures(max_keys=2000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(20_000):  # 20,000 strangers, each with a 4 KiB name
        failures.add(key("user", f"{i}" + "x" * 4096), key("address", f"10.0.{i // 250}.{i}"))
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(failures) == 2000
    assert grown < 4 * 2**20, f"{grown / 2**20:.1f} MiB"
    # checking a key stores nothing; a name tried too often is blocked, others are not
    assert not failures.blocked(key("user", "never seen")) and len(failures) == 2000
    for _ in range(MAX_FAILURES):
        failures.add(key("user", "alice"))
    assert failures.blocked(key("user", "alice"))
    assert not failures.blocked(key("user", "bob"))
    failures.clear(key("user", "alice"))
    assert not failures.blocked(key("user", "alice"))


@pytest.mark.parametrize("url", [
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "//evil.example",
    "/\\evil.example", "\\/evil.example", "/ /evil.example", "https://evil.example",
    "http:/evil.example", "javascript:alert(1)", "/\u3000/evil.example", "/\x00/evil",
    "evil.example", "", None, "/apps\x7f",
])
def test_sign_in_never_sends_a_browser_elsewhere(url):
    assert safe_next(url) == "/"


@pytest.mark.parametrize("url", ["/", "/apps", "/apps?store=bbc/news.h5&instance=3",
                                 "/prefix/apps#x", "/apps?next=//x"])
def test_sign_in_sends_a_browser_back_to_its_page(url):
    assert safe_next(url) == url


@pytest.mark.parametrize("name", [" alice", "alice ", "\u00a0alice", "al\tice", "al\nice",
                                  "alice\u202e", "\u200balice", "al\x85ice", "al\u2028ice", ""])
def test_a_name_with_spaces_around_or_invisible_characters_is_refused(name):
    with pytest.raises(UserError, match="user name"):
        check_name(name)


def test_plain_names_are_fine():
    for name in ("alice", "dana@lab.org", "Zoë Müller", "李雷", "o'brien"):
        assert check_name(name) == name


def test_the_log_shows_a_short_escaped_name():
    assert short("alice") == "'alice'"
    shown = short("\u202e<b>\n" * 100_000)
    assert len(shown) < 200 and "\n" not in shown and "\u202e" not in shown
    assert "500,000 characters" in shown


def test_serve_help_says_how_slow_clients_are_cut_off(capsys):
    from attviz.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("--idle-timeout", "--body-timeout", "Slow clients are cut off",
                  "idle_connection_timeout", "--use-xheaders"):
        assert words in text, words
