"""Times in the office's zone (issue 25): a day given on a command line or in a filter is that
calendar day in the configured zone, and every UTC time of the trail falls inside the bounds of
exactly the day every view shows it on — in Beijing and in zones with daylight saving."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.display import bound, local_day, local_text, zone
from guard.errors import GuardError

ZONES = ["Asia/Shanghai", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
TIMES = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31),
                     timezones=st.just(dt.timezone.utc))


def _ts(t: dt.datetime) -> str:  # the trail's own form
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@settings(derandomize=True, max_examples=400, deadline=None)
@given(t=TIMES, name=st.sampled_from(ZONES))
def test_a_time_falls_on_the_day_shown(t, name):
    tz = zone(name)
    ts = _ts(t)
    day = local_day(ts, tz)
    assert bound(day, tz) <= ts <= bound(day, tz, end=True)
    nxt = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    prev = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    assert not bound(nxt, tz) <= ts and not ts <= bound(prev, tz, end=True)   # on no other day
    assert local_text(ts, tz).startswith(day)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(t=TIMES)
def test_beijing_midnight(t):
    """The issue's case: 08:30 in Beijing is 00:30 UTC and belongs to that Beijing day."""
    tz = zone("Asia/Shanghai")
    local = t.astimezone(tz)
    assert local_day(_ts(t), tz) == local.date().isoformat()
    midnight = dt.datetime.combine(local.date(), dt.time(), tz)
    assert bound(local.date().isoformat(), tz) == _ts(midnight.astimezone(dt.timezone.utc))


def test_times_and_errors():
    tz = zone("Asia/Shanghai")
    assert bound("2026-11-28T08:30", tz) == "2026-11-28T00:30:00.000Z"            # a local time
    assert bound("2026-11-28T08:30", tz, end=True) == "2026-11-28T00:30:59.999Z"  # ... the whole minute
    assert bound("2026-11-28T08:30:00Z", tz) == "2026-11-28T08:30:00.000Z"        # an explicit offset
    assert bound("2026-11-28T08:30+08:00", tz) == "2026-11-28T00:30:00.000Z"
    for bad in ("2026-13-01", "yesterday", "2026/11/28"):
        with pytest.raises(GuardError, match="YYYY-MM-DD"):
            bound(bad, tz)
    with pytest.raises(GuardError, match="Mars/Olympus"):
        zone("Mars/Olympus")


def test_zone_from_the_environment(monkeypatch):
    zone.cache_clear()
    monkeypatch.setenv("GUARD_TZ", "Europe/Berlin")
    try:
        assert local_text("2026-07-01T12:00:00.000Z", zone()) == "2026-07-01 14:00:00"
    finally:
        zone.cache_clear()
    monkeypatch.delenv("GUARD_TZ")
    assert local_text("2026-07-01T12:00:00.000Z", zone()) == "2026-07-01 20:00:00"        # default: Beijing
