"""The one definition of what free text may hold (``core.text``)."""

from __future__ import annotations

import pytest

from facesearch.core.text import (
    escaped,
    has_control,
    has_direction_mark,
    hidden_characters,
    is_blank,
)


@pytest.mark.parametrize(
    "text",
    ["", " \t\n", "\u200b", "\u200b\u2060\ufeff", "\u00ad", "\u0301", "\u3164", "\u2800 ",
     # default-ignorable but unassigned in Python's tables (category Cn): they passed
     "\u2065", "\ufff0", "\U000e0002", "\U000e0080", "\ufff9\ufffb"],
)  # fmt: skip
def test_nothing_visible_is_blank(text: str) -> None:
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", "\u200bx", "é", "名前", "😀", "K-1"])
def test_anything_visible_is_not_blank(text: str) -> None:
    assert not is_blank(text)


def test_controls_and_direction_marks() -> None:
    assert not has_control("tab\tand\nline")
    assert all(has_control(f"a{ch}b") for ch in "\x00\x01\x1b\x7f\x85\x9f")
    assert has_direction_mark("K-1\u202e9102-K") and has_direction_mark("\u2067x\u2069")
    assert not has_direction_mark("K-2026-14 \u05e9\u05dc\u05d5\u05dd")  # Hebrew itself is fine


def test_hidden_characters_inside_text_are_named_but_the_needed_ones_are_not() -> None:
    """``K-\\u200b1`` and ``K-1\\U000e0041`` opened cases that showed as "K-1" beside the
    real K-1."""
    assert hidden_characters("K-\u200b1") == ["U+200B"]
    assert hidden_characters("K-1\U000e0041\U000e0041") == ["U+E0041"]
    assert hidden_characters("lead\ufff9hidden\ufffa\ufffb") == ["U+FFF9", "U+FFFA", "U+FFFB"]
    assert hidden_characters("a\u206ab") == ["U+206A"]
    # joiners and variation selectors that scripts and emoji need, and direction marks
    # (named by has_direction_mark), are not listed
    assert hidden_characters("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == []
    assert hidden_characters("\U0001f468\u200d\U0001f469 \u2764\ufe0f") == []
    assert hidden_characters("K-1\u202e") == []
    assert hidden_characters("1\ufe0f\u20e3 \u845b\U000e0100") == []  # keycap, CJK variant


@pytest.mark.parametrize(
    "text", ["K-\u200d1", "K-\u200c1", "K-\ufe0f1", "K-\U000e01001", "\u200dK"]
)
def test_a_joiner_or_selector_between_plain_characters_is_hidden(text: str) -> None:
    """Exempt everywhere, ZWJ, ZWNJ and variation selectors made four more cases that showed
    as "K-1" beside the real one."""
    assert hidden_characters(text)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ana María 😀", "Ana María 😀"),
        ("\u0645\u200c\u0627", "\u0645\u200c\u0627"),  # Persian's ZWNJ is needed: kept
        ("x\n  #1 evil.jpg", "x\\n  #1 evil.jpg"),
        ("a\tb\x1b[2Jc\x85", "a\\tb\\x1b[2Jc\\x85"),
        ("K-1\u202e9102\u2028", "K-1\\u202e9102\\u2028"),
        ("K-\u200b1", "K-\\u200b1"),
        ("caf\udcff", "caf\\xff"),  # bytes that are not UTF-8
    ],
)
def test_escaped_writes_what_would_hide_or_add_a_line_as_escapes(name: str, shown: str) -> None:
    assert escaped(name) == shown
