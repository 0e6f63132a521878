"""``server.drafts.PhotoDrafts``: a photo held between an erasure's preview and its
confirmation, for its owner only, taken once, dropped when expired or when too many wait."""

from __future__ import annotations

import pytest

from facesearch.errors import NotFoundError
from facesearch.server.drafts import PhotoDrafts


def test_a_draft_is_its_owners_and_is_taken_once() -> None:
    drafts = PhotoDrafts()
    token = drafts.put("admin1", b"photo", 1e-4)
    with pytest.raises(NotFoundError):
        drafts.take(token, "admin2")  # someone else's: as if there were none
    draft = drafts.take(token, "admin1")  # still there for its owner
    assert (draft.photo, draft.max_fmr) == (b"photo", 1e-4)
    with pytest.raises(NotFoundError):
        drafts.take(token, "admin1")


def test_expired_drafts_and_the_oldest_beyond_the_limit_are_dropped() -> None:
    drafts = PhotoDrafts(ttl_s=0.0)  # expired as soon as it is held
    token = drafts.put("admin1", b"photo", None)
    with pytest.raises(NotFoundError, match="expired"):
        drafts.take(token, "admin1")
    few = PhotoDrafts(most=2)
    first, second, third = (few.put("a", bytes([i]), None) for i in range(3))
    with pytest.raises(NotFoundError):
        few.take(first, "a")
    assert few.take(second, "a").photo == b"\x01" and few.take(third, "a").photo == b"\x02"
