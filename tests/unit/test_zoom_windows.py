"""Listing windows: every day covered exactly once, none longer than Zoom accepts."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from zoomwatch.sources.zoom.api import encode_uuid, month_before, windows


@settings(deadline=None)
@given(st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2030, 12, 31)), st.integers(0, 800))
def test_windows_cover_every_day_once_and_zoom_never_shortens_them(end, span):
    start = end - dt.timedelta(days=span)
    days: list[dt.date] = []
    for frm, to in windows(start, end):
        assert frm <= to and (to - frm).days < 30
        assert frm >= month_before(to)  # what Zoom would otherwise move `from` to, silently
        days += [frm + dt.timedelta(days=n) for n in range((to - frm).days + 1)]
    assert sorted(days) == [start + dt.timedelta(days=n) for n in range(span + 1)]


def test_the_window_ending_in_early_march_keeps_its_first_day():
    first = next(windows(dt.date(2025, 1, 1), dt.date(2026, 3, 27)))
    assert first == (dt.date(2026, 2, 27), dt.date(2026, 3, 27))
    assert month_before(dt.date(2024, 3, 31)) == dt.date(2024, 2, 29)


def test_uuids_zoom_wants_encoded_twice():
    assert encode_uuid("abc==") == "abc%3D%3D"
    assert encode_uuid("/abc==") == "%252Fabc%253D%253D"
    assert encode_uuid("ab//c") == "ab%252F%252Fc"
    assert encode_uuid("ab/c") == "ab%2Fc"
