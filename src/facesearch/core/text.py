"""What free text may hold, defined once for every layer: control characters, marks that
change the text's direction, line breaks, and text with nothing visible in it.

A name in the catalog (a person, a subject, a collection) and a use's text in the audit trail
(case number, purpose, reason, a reviewer's note) are shown in pages, tables and the CLI, and
the trail's text is what a later reader relies on: neither may hold characters that hide or
rearrange what is shown.
"""

from __future__ import annotations

import unicodedata

__all__ = ["DIRECTION_MARKS", "SEPARATORS", "has_control", "has_direction_mark", "is_blank"]

# Marks that reverse or isolate the direction of the text after them: a case number written
# K-1<U+202E>9102-K would show as another number in the trail.
DIRECTION_MARKS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Unicode's line and paragraph separators: line breaks that are not control characters.
SEPARATORS = frozenset("\u2028\u2029")
# Letters drawn as nothing: the Hangul fillers and the blank braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Format characters (zero-width space and joiners, soft hyphen, byte-order mark, ...),
# combining marks (nothing to sit on when alone) and control characters.
_UNSEEN = frozenset({"Cf", "Mn", "Me", "Cc"})


def has_control(text: str) -> bool:
    """Whether ``text`` holds a C0 or C1 control character other than tab and "\\n"."""
    return any((ord(ch) < 32 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F for ch in text)


def has_direction_mark(text: str) -> bool:
    return any(ch in DIRECTION_MARKS for ch in text)


def is_blank(text: str) -> bool:
    """Whether nothing of ``text`` would be seen: only white space, format characters,
    combining marks, control characters and blank letters (``"\\u200b"`` is blank)."""
    return all(
        ch.isspace() or ch in _BLANK_LETTERS or unicodedata.category(ch) in _UNSEEN for ch in text
    )
