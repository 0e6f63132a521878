"""The one check of a use's free text: case number, purpose, reason, actor, a note.

Shared by the audit trail (``AuditTrail.append``) and the application layer, which checks the
same text before a search runs, so that text accepted there is never refused when the audit
entry is written after it.
"""

from __future__ import annotations

from facesearch.core.text import SEPARATORS, has_control, hiding, is_blank
from facesearch.errors import InputError

__all__ = ["MAX_ACTOR_CHARS", "MAX_CASE_CHARS", "MAX_PURPOSE_CHARS", "clean_text", "required_text"]

MAX_ACTOR_CHARS = 128
MAX_CASE_CHARS = 200
MAX_PURPOSE_CHARS = 2000


def clean_text(value: str | None, what: str, limit: int, *, one_line: bool) -> str | None:
    """The one check of a use's free text (case number, purpose, reason, actor, a reviewer's
    note): trimmed, None when nothing in it can be seen (``core.text.is_blank``: a zero-width
    space is no purpose); line breaks (CRLF, CR, U+2028, U+2029) as ``\\n`` (browsers send a
    textarea's as CRLF) and only where ``one_line`` is false; InputError for other control
    characters, direction marks or more than ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join("\n" if ch in SEPARATORS else ch for ch in text).strip()
    if not text or is_blank(text):
        return None
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    if one_line and "\n" in text:
        raise InputError(f"{what} must be on one line (no line breaks)")
    if has_control(text):
        raise InputError(f"{what} contains control characters")
    problem = hiding(text)
    if problem is not None:
        raise InputError(f"{what} contains {problem}")
    return text


def required_text(value: str | None, what: str, limit: int, *, one_line: bool) -> str:
    """``clean_text``, and InputError if nothing is left."""
    text = clean_text(value, what, limit, one_line=one_line)
    if text is None:
        raise InputError(f"{what} is required")
    return text
