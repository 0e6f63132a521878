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


def test_localtime_is_a_time_element_with_the_utc_text() -> None:
    from facesearch.server.formatting import localtime

    shown = localtime("2026-11-30T14:05:12.5+01:00")
    assert shown == '<time datetime="2026-11-30T13:05:12Z">2026-11-30 13:05:12 UTC</time>'
    assert localtime(datetime(2026, 11, 30, 13, 5, 12)) == (  # no zone: taken as UTC
        '<time datetime="2026-11-30T13:05:12Z">2026-11-30 13:05:12 UTC</time>'
    )
    assert localtime(None) == "" and localtime("<b>soon</b>") == "&lt;b&gt;soon&lt;/b&gt;"


def test_fmr_short() -> None:
    from facesearch.server.formatting import fmr_short

    assert fmr_short(1 / 12_345, "about 1 in 12,000 different people score this high") == (
        "≈ 1 in 12,000"
    )
    floor = "fewer than 1 in 1,000,000 different people score this high"
    assert fmr_short(1e-6, floor) == "< 1 in 1,000,000"
    assert fmr_short(0.7, "most different people score this high") == "≥ 1 in 2"
    assert fmr_short(0.0) == "–" and fmr_short(float("nan")) == "–"
