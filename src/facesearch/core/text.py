"""What free text may hold, defined once for every layer: control characters, marks that
change the text's direction, line breaks, and text with nothing visible in it.

A name in the catalog (a person, a subject, a collection) and a use's text in the audit trail
(case number, purpose, reason, a reviewer's note) are shown in pages, tables and the CLI, and
the trail's text is what a later reader relies on: neither may hold characters that hide or
rearrange what is shown.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "DIRECTION_MARKS",
    "PLAIN_NAME_RULE",
    "SEPARATORS",
    "escaped",
    "has_control",
    "has_direction_mark",
    "hidden_characters",
    "hiding",
    "is_blank",
    "is_plain_name",
    "shown_name",
]

# A name that is part of addresses and paths as it is: a user's, an organisation's and a new
# collection's (an organisation's default collection is named after it).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PLAIN_NAME_RULE = (
    "1-64 characters: ASCII letters, digits and . _ - @, starting with a letter or digit"
)


def is_plain_name(name: object) -> bool:
    """Whether ``name`` follows ``PLAIN_NAME_RULE``."""
    return isinstance(name, str) and _PLAIN_NAME.fullmatch(name) is not None


# Marks that reverse or isolate the direction of the text after them: a case number written
# K-1<U+202E>9102-K would show as another number in the trail.
DIRECTION_MARKS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Unicode's line and paragraph separators: line breaks that are not control characters.
SEPARATORS = frozenset("\u2028\u2029")
# Letters drawn as nothing: the Hangul fillers and the blank braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): drawn as nothing
# whether or not this Python's tables know them (U+2065, U+FFF0..U+FFF8 and most of the tag
# block are unassigned, category Cn), and the interlinear annotation marks U+FFF9..U+FFFB.
_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
# Invisible characters that text needs, where it needs them: the joiners of Persian, Indic and
# emoji sequences (between two non-ASCII characters), and the variation selectors of emoji
# and CJK (after a non-ASCII character, or a keycap's digit, # or *).
_JOINERS = ((0x200C, 0x200D),)
_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_KEYCAP = "\u20e3"
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
    default-ignorable code points, combining marks, control characters and blank letters
    (``"\\u200b"`` is blank)."""
    return all(
        ch.isspace()
        or ch in _BLANK_LETTERS
        or _within(ord(ch), _IGNORABLE)
        or unicodedata.category(ch) in _UNSEEN
        for ch in text
    )


def hidden_characters(text: str) -> list[str]:
    """The invisible characters in ``text`` that could make it read as other text (``K-1``
    with a zero-width space in it shows as ``K-1``), as ``U+XXXX``, each once, in order:
    default-ignorable code points but a joiner or variation selector where text needs it
    (``_needed``), and but the direction marks (``has_direction_mark`` names those)."""
    found: dict[str, None] = {}
    for at, ch in enumerate(text):
        code = ord(ch)
        if not _within(code, _IGNORABLE) or ch in DIRECTION_MARKS or _needed(text, at):
            continue
        found[f"U+{code:04X}"] = None
    return list(found)


def _needed(text: str, at: int) -> bool:
    """Whether the joiner or variation selector at ``at`` does work there: a joiner between
    two non-ASCII characters (an emoji sequence, Persian or Indic text), a selector after a
    non-ASCII character or starting a keycap (``1\\ufe0f\\u20e3``). ``K-\\u200d1`` does not."""
    code = ord(text[at])
    before = text[at - 1] if at > 0 else ""
    after = text[at + 1] if at + 1 < len(text) else ""
    if _within(code, _JOINERS):
        return bool(before and after) and not before.isascii() and not after.isascii()
    if _within(code, _SELECTORS):
        keycap = before in "0123456789#*" and bool(before) and after == _KEYCAP
        return (bool(before) and not before.isascii()) or keycap
    return False


def _within(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def shown_name(name: str) -> str:
    """``name`` as text that can be stored and shown: a file name that is not valid UTF-8
    (Python holds its bytes as lone surrogates) with those bytes written as ``\\xff``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        try:
            return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return name.encode("utf-8", "backslashreplace").decode("utf-8")


def hiding(text: str) -> str | None:
    """What in ``text`` could make it read as other text, in words for a refusal (None:
    nothing): marks that change its direction, or invisible characters. One check for the
    catalog's names and the trail's free text alike."""
    if has_direction_mark(text):
        return "marks that change the text's direction"
    hidden = hidden_characters(text)
    if hidden:
        return f"invisible characters ({', '.join(hidden[:5])}): it would read as other text"
    return None


def escaped(name: str) -> str:
    """``name`` (a file name, a subject) as one line of text output that shows what it holds:
    control characters (line breaks and tabs too), direction marks, line separators and the
    invisible characters of ``hidden_characters`` written as Python escapes (``\\n``,
    ``\\u202e``), bytes that are not UTF-8 as ``shown_name`` writes them. A file named
    ``"x\\n  #1 ..."`` cannot add a line of its own to what a command prints."""
    text = shown_name(name)
    hidden = set(hidden_characters(text))
    if not hidden and not has_direction_mark(text) and text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if has_control(ch)
        or ch in "\t\n"
        or ch in DIRECTION_MARKS
        or ch in SEPARATORS
        or f"U+{ord(ch):04X}" in hidden
        else ch
        for ch in text
    )
