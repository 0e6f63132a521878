"""The pages' filters: times without microseconds or a 'T', counts with thousands separators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from facesearch.server.formatting import thousands, when


def test_when() -> None:
    assert when("2026-11-30T13:05:12.123456+00:00") == "2026-11-30 13:05:12 UTC"
    assert when(datetime(2026, 11, 30, 13, 5, 12, 999, tzinfo=UTC)) == "2026-11-30 13:05:12 UTC"
    plus_one = timezone(timedelta(hours=1))
    assert when(datetime(2026, 11, 30, 14, 5, 12, tzinfo=plus_one)) == "2026-11-30 13:05:12 UTC"
    assert when(None) == "" and when("") == "" and when("yesterday") == "yesterday"


def test_thousands() -> None:
    assert thousands(1_234_567) == "1,234,567" and thousands(12) == "12" and thousands(3.0) == "3"
    assert thousands(None) == "" and thousands(True) == "True" and thousands(0.5) == "0.5"
