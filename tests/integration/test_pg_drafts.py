"""Erasure drafts shared by replicas: the preview on one, the confirmation on another."""

from __future__ import annotations

import pytest

from facesearch.errors import NotFoundError
from facesearch.sqlstore.drafts import SharedDrafts


def test_a_draft_put_on_one_replica_is_taken_once_on_the_other(pg_url: str) -> None:
    a, b = SharedDrafts(pg_url), SharedDrafts(pg_url)
    try:
        token = a.put("admin1", b"\x89PNG photo", 1e-4)
        with pytest.raises(NotFoundError):
            b.take(token, "admin2")  # someone else's: as if there were none
        draft = b.take(token, "admin1")
        assert (draft.owner, draft.photo, draft.max_fmr) == ("admin1", b"\x89PNG photo", 1e-4)
        with pytest.raises(NotFoundError):
            a.take(token, "admin1")  # taken once
    finally:
        a.close()
        b.close()


def test_drafts_expire_and_the_oldest_goes_first(pg_url: str) -> None:
    gone = SharedDrafts(pg_url, ttl_s=-1)
    few = SharedDrafts(pg_url, most=2)
    try:
        with pytest.raises(NotFoundError):
            gone.take(gone.put("admin1", b"x", None), "admin1")
        tokens = [few.put("admin1", bytes([i]), None) for i in range(3)]
        with pytest.raises(NotFoundError):
            few.take(tokens[0], "admin1")
        assert few.take(tokens[2], "admin1").photo == b"\x02"
    finally:
        gone.close()
        few.close()
