"""The one check of a use's free text: case number, purpose, reason, actor.

Shared by the audit trail (``AuditTrail.append``) and the application layer, which checks the
same text before a search runs, so that text accepted there is never refused when the audit
entry is written after it.
"""

from __future__ import annotations

from facesearch.errors import InputError

__all__ = ["MAX_ACTOR_CHARS", "MAX_CASE_CHARS", "MAX_PURPOSE_CHARS", "clean_text", "required_text"]

MAX_ACTOR_CHARS = 128
MAX_CASE_CHARS = 200
MAX_PURPOSE_CHARS = 2000

# Marks that reverse or isolate the direction of the text after them: a case number written
# K-1<U+202E>9102-K would show as another number in the trail.
_DIRECTION_MARKS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def clean_text(value: str | None, what: str, limit: int, *, one_line: bool) -> str | None:
    """The one check of a use's free text (case number, purpose, reason, actor): trimmed,
    None when empty; line breaks as ``\\n`` (browsers send a textarea's as CRLF) and only
    where ``one_line`` is false; InputError for other control characters, direction marks
    or more than ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    if one_line and "\n" in text:
        raise InputError(f"{what} must be on one line (no line breaks)")
    if any((ord(ch) < 32 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F for ch in text):
        raise InputError(f"{what} contains control characters")
    if any(ch in _DIRECTION_MARKS for ch in text):
        raise InputError(f"{what} contains marks that change the text's direction")
    return text


def required_text(value: str | None, what: str, limit: int, *, one_line: bool) -> str:
    """``clean_text``, and InputError if nothing is left."""
    text = clean_text(value, what, limit, one_line=one_line)
    if text is None:
        raise InputError(f"{what} is required")
    return text
