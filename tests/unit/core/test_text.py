"""The one definition of what free text may hold (``core.text``)."""

from __future__ import annotations

import pytest

from facesearch.core.text import has_control, has_direction_mark, is_blank


@pytest.mark.parametrize(
    "text", ["", " \t\n", "\u200b", "\u200b\u2060\ufeff", "\u00ad", "\u0301", "\u3164", "\u2800 "]
)
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
