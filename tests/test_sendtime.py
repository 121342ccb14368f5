"""Quiet hours in the recipient's zone: offsets, DST transitions, fallbacks and validation."""

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sms_marketing.core import sendtime
from sms_marketing.core.sendtime import next_allowed, window_checker

UTC = timezone.utc


def utc(*args):
    """Naive UTC datetime, the Odoo convention."""
    return datetime(*args)


@pytest.mark.parametrize(
    ("when", "tz_name", "start", "end", "expected"),
    [
        # Shanghai, UTC+8, no DST.
        pytest.param(
            utc(2026, 5, 1, 2), "Asia/Shanghai", 8, 21, utc(2026, 5, 1, 2), id="sh-inside"
        ),
        pytest.param(
            utc(2026, 5, 1, 0), "Asia/Shanghai", 8, 21, utc(2026, 5, 1, 0), id="sh-at-start"
        ),
        pytest.param(
            utc(2026, 5, 1, 12, 59, 59),
            "Asia/Shanghai",
            8,
            21,
            utc(2026, 5, 1, 12, 59, 59),
            id="sh-just-before-end",
        ),
        pytest.param(
            utc(2026, 5, 1, 13), "Asia/Shanghai", 8, 21, utc(2026, 5, 2, 0), id="sh-at-end"
        ),
        pytest.param(
            utc(2026, 5, 1, 22), "Asia/Shanghai", 8, 21, utc(2026, 5, 2, 0), id="sh-early-morning"
        ),
        # 23:30 UTC is 07:30 the next day in Shanghai: 08:00 local is 00:00 UTC.
        pytest.param(
            utc(2026, 1, 10, 23, 30),
            "Asia/Shanghai",
            8,
            21,
            utc(2026, 1, 11, 0),
            id="sh-utc-date-rollover",
        ),
        pytest.param(
            utc(2026, 5, 1, 0), "Asia/Shanghai", 8.5, 21, utc(2026, 5, 1, 0, 30), id="sh-8.5"
        ),
        pytest.param(
            utc(2026, 12, 31, 14), "Asia/Shanghai", 8, 21, utc(2027, 1, 1, 0), id="sh-new-year"
        ),
        # Kolkata, UTC+5:30.
        pytest.param(
            utc(2026, 6, 1, 2), "Asia/Kolkata", 8, 21, utc(2026, 6, 1, 2, 30), id="in-start"
        ),
        pytest.param(utc(2026, 6, 1, 2), "Asia/Kolkata", 8.5, 21, utc(2026, 6, 1, 3), id="in-8.5"),
        pytest.param(
            utc(2026, 6, 1, 15, 30), "Asia/Kolkata", 8, 21, utc(2026, 6, 2, 2, 30), id="in-end"
        ),
        # Kathmandu, UTC+5:45.
        pytest.param(
            utc(2026, 6, 1, 1), "Asia/Kathmandu", 8, 21, utc(2026, 6, 1, 2, 15), id="np-start"
        ),
        pytest.param(
            utc(2026, 6, 1, 15, 15), "Asia/Kathmandu", 8, 21, utc(2026, 6, 2, 2, 15), id="np-end"
        ),
        pytest.param(
            utc(2026, 6, 1, 3), "Asia/Kathmandu", 8, 21, utc(2026, 6, 1, 3), id="np-inside"
        ),
        # New York: EST (UTC-5) in winter, EDT (UTC-4) in summer.
        pytest.param(
            utc(2026, 3, 7, 5), "America/New_York", 9, 21, utc(2026, 3, 7, 14), id="ny-est"
        ),
        pytest.param(
            utc(2026, 7, 1, 4), "America/New_York", 9, 21, utc(2026, 7, 1, 13), id="ny-edt"
        ),
    ],
)
def test_next_allowed(when, tz_name, start, end, expected):
    assert next_allowed(when, tz_name, start, end) == expected


# --- DST, New York: spring forward 2026-03-08 02:00 EST -> 03:00 EDT ------------------------


def test_spring_forward_day_uses_new_offset():
    # 00:00 EST on the transition day; 09:00 is already EDT (UTC-4).
    assert next_allowed(utc(2026, 3, 8, 5), "America/New_York", 9, 21) == utc(2026, 3, 8, 13)


def test_spring_forward_from_previous_evening():
    # 21:00 EST on March 7 is the end of the window: next opening 09:00 EDT on March 8.
    assert next_allowed(utc(2026, 3, 8, 2), "America/New_York", 9, 21) == utc(2026, 3, 8, 13)


def test_start_in_spring_forward_gap_moves_to_transition():
    # 02:30 does not exist on March 8: the first valid instant after it is 03:00 EDT.
    assert next_allowed(utc(2026, 3, 8, 5), "America/New_York", 2.5, 21) == utc(2026, 3, 8, 7)
    # One day later 02:30 EDT exists.
    assert next_allowed(utc(2026, 3, 9, 4), "America/New_York", 2.5, 21) == utc(2026, 3, 9, 6, 30)


def test_just_after_gap_is_inside():
    assert next_allowed(utc(2026, 3, 8, 7), "America/New_York", 2.5, 21) == utc(2026, 3, 8, 7)


def test_window_swallowed_by_gap_moves_to_next_day():
    # [02:00, 02:45) does not exist on March 8: first opening is 02:00 EDT on March 9.
    assert next_allowed(utc(2026, 3, 8, 5), "America/New_York", 2, 2.75) == utc(2026, 3, 9, 6)


# --- DST, New York: fall back 2026-11-01 02:00 EDT -> 01:00 EST -----------------------------


def test_fall_back_day_uses_new_offset():
    assert next_allowed(utc(2026, 11, 1, 4), "America/New_York", 9, 21) == utc(2026, 11, 1, 14)


def test_ambiguous_start_uses_first_occurrence():
    # 01:30 happens twice; fold=0 is 01:30 EDT = 05:30 UTC.
    assert next_allowed(utc(2026, 11, 1, 4), "America/New_York", 1.5, 3) == utc(2026, 11, 1, 5, 30)


def test_inside_first_occurrence_of_repeated_hour():
    # 05:45 UTC = 01:45 EDT.
    assert next_allowed(utc(2026, 11, 1, 5, 45), "America/New_York", 1.5, 3) == utc(
        2026, 11, 1, 5, 45
    )


def test_ambiguous_start_already_passed_uses_second_occurrence():
    # 06:15 UTC = 01:15 EST (second pass): the first 01:30 (05:30 UTC) is in the
    # past, the next time the clock reads 01:30 is 01:30 EST = 06:30 UTC.
    assert next_allowed(utc(2026, 11, 1, 6, 15), "America/New_York", 1.5, 3) == utc(
        2026, 11, 1, 6, 30
    )


def test_skipped_day_samoa():
    # Pacific/Apia skipped 2011-12-30 (UTC-10 -> UTC+14). 22:00 on Dec 29 is
    # after the window; Dec 30 08:00 never existed, so the next opening is
    # Dec 31 08:00 (+14) = Dec 30 18:00 UTC.
    assert next_allowed(utc(2011, 12, 30, 8), "Pacific/Apia", 8, 21) == utc(2011, 12, 30, 18)


# --- window bounds ---------------------------------------------------------------------------


def test_end_24_means_until_midnight():
    # 23:59 Shanghai is inside [08:00, 24:00); midnight starts the quiet hours.
    assert next_allowed(utc(2026, 5, 1, 15, 59), "Asia/Shanghai", 8, 24) == utc(2026, 5, 1, 15, 59)
    assert next_allowed(utc(2026, 5, 1, 16), "Asia/Shanghai", 8, 24) == utc(2026, 5, 2, 0)


def test_full_day_window_never_moves():
    when = utc(2026, 3, 8, 7, 12, 34, 567)
    for tz_name in ("America/New_York", "Asia/Kathmandu", "Pacific/Apia", None):
        assert next_allowed(when, tz_name, 0, 24) == when


def test_microseconds_preserved_and_result_naive():
    when = utc(2026, 5, 1, 2, 3, 4, 567_890)
    result = next_allowed(when, "Asia/Shanghai", 8, 21)
    assert result == when
    assert result.tzinfo is None
    assert next_allowed(utc(2026, 5, 1, 22), "Asia/Shanghai", 8, 21).tzinfo is None


# --- time zone fallbacks ---------------------------------------------------------------------


@pytest.mark.parametrize("tz_name", [None, "", "Mars/Olympus_Mons", "../../etc/passwd", "/UTC"])
def test_unknown_zone_falls_back_to_default(tz_name):
    # 22:00 UTC is 06:00 in Shanghai: moved to 08:00 local.
    assert next_allowed(utc(2026, 5, 1, 22), tz_name, 8, 21, "Asia/Shanghai") == utc(2026, 5, 2, 0)


@pytest.mark.parametrize("default_tz", ["UTC", "", "Nowhere/Land"])
def test_unknown_zone_and_default_fall_back_to_utc(default_tz):
    assert next_allowed(utc(2026, 5, 1, 6), "Nowhere/Else", 8, 21, default_tz) == utc(2026, 5, 1, 8)
    assert next_allowed(utc(2026, 5, 1, 21), None, 8, 21, default_tz) == utc(2026, 5, 2, 8)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [(8, 8), (21, 8), (-1, 8), (8, 24.5), (0, 0), (float("nan"), 8), (8, float("nan"))],
)
def test_invalid_window(start, end):
    with pytest.raises(ValueError):
        next_allowed(utc(2026, 5, 1), "UTC", start, end)
    with pytest.raises(ValueError):
        window_checker(start, end)


def test_aware_datetime_rejected():
    with pytest.raises(ValueError):
        next_allowed(datetime(2026, 5, 1, tzinfo=UTC), "UTC", 8, 21)
    with pytest.raises(ValueError):
        window_checker(8, 21)(datetime(2026, 5, 1, tzinfo=UTC), "UTC")


def test_date_rejected():
    with pytest.raises(TypeError):
        next_allowed(date(2026, 5, 1), "UTC", 8, 21)


# --- window_checker --------------------------------------------------------------------------


def test_checker_matches_next_allowed_and_memoises():
    check = window_checker(8.5, 20.75, "Asia/Shanghai")
    whens = [utc(2026, 3, 8, h, 10) for h in range(24)]
    zones = ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu", None, "bogus"]
    for when in whens:
        for tz_name in zones:
            expected = next_allowed(when, tz_name, 8.5, 20.75, "Asia/Shanghai")
            assert check(when, tz_name) == expected
    assert check.cache_info().misses == len(whens) * len(zones)
    for _ in range(1000):
        check(whens[0], "Asia/Kolkata")
    info = check.cache_info()
    assert info.misses == len(whens) * len(zones)
    assert info.hits == 1000


def test_checkers_do_not_share_caches():
    morning, evening = window_checker(8, 12), window_checker(18, 22)
    when = utc(2026, 5, 1, 2)  # 10:00 Shanghai
    assert morning(when, "Asia/Shanghai") == when
    assert evening(when, "Asia/Shanghai") == utc(2026, 5, 1, 10)


# --- brute-force cross-check -----------------------------------------------------------------


def brute_force(when, tz_name, start_minute, end_minute):
    """First whole minute at or after ``when`` whose local wall clock is in the window."""
    zone = ZoneInfo(tz_name)
    current = when.replace(tzinfo=UTC)
    for _ in range(3 * 24 * 60):
        local = current.astimezone(zone)
        minute = local.hour * 60 + local.minute
        if start_minute <= minute < end_minute:
            return current.replace(tzinfo=None)
        current += timedelta(minutes=1)
    raise AssertionError("no opening within three days")


def test_against_brute_force_around_transitions():
    rng = random.Random(20260308)
    cases = [
        ("America/New_York", utc(2026, 3, 8, 0)),
        ("America/New_York", utc(2026, 11, 1, 0)),
        ("Europe/London", utc(2026, 3, 29, 0)),
        ("Europe/London", utc(2026, 10, 25, 0)),
        ("Australia/Lord_Howe", utc(2026, 4, 4, 12)),  # 30-minute DST shift
        ("Australia/Lord_Howe", utc(2026, 10, 3, 12)),
        ("Asia/Kathmandu", utc(2026, 6, 1, 0)),
        ("Asia/Shanghai", utc(2026, 6, 1, 0)),
    ]
    for tz_name, around in cases:
        for _ in range(12):
            when = around + timedelta(minutes=rng.randrange(-36 * 60, 36 * 60))
            start_minute = rng.randrange(0, 24 * 60 - 15, 15)
            end_minute = rng.randrange(start_minute + 15, 24 * 60 + 1, 15)
            got = next_allowed(when, tz_name, start_minute / 60, end_minute / 60)
            expected = brute_force(when, tz_name, start_minute, end_minute)
            assert got == expected, (tz_name, when, start_minute, end_minute)


# --------------------------------------------------------------------------------------
# Best send time: the next local hour, and the share kept for exploration
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "tz", "hour", "minute", "expected"),
    [
        # 03:00 UTC is 11:00 in Shanghai: 19:30 local is the same day, 11:30 UTC
        (datetime(2026, 12, 7, 3, 0), "Asia/Shanghai", 19, 30, datetime(2026, 12, 7, 11, 30)),
        # 09:00 local has passed: tomorrow
        (datetime(2026, 12, 7, 3, 0), "Asia/Shanghai", 9, 0, datetime(2026, 12, 8, 1, 0)),
        # exactly now
        (datetime(2026, 12, 7, 3, 0), "Asia/Shanghai", 11, 0, datetime(2026, 12, 7, 3, 0)),
        # New York, the evening before in local time
        (datetime(2026, 12, 7, 3, 0), "America/New_York", 20, 0, datetime(2026, 12, 8, 1, 0)),
        # unknown zone: UTC
        (datetime(2026, 12, 7, 3, 0), "Nowhere/Land", 4, 15, datetime(2026, 12, 7, 4, 15)),
        # DST gap: 02:30 does not exist on 2026-03-08 in New York, 03:00 EDT is 07:00 UTC
        (datetime(2026, 3, 8, 5, 0), "America/New_York", 2, 30, datetime(2026, 3, 8, 7, 0)),
        # DST overlap: 01:30 happens twice on 2026-11-01; the first one, still ahead
        (datetime(2026, 11, 1, 4, 0), "America/New_York", 1, 30, datetime(2026, 11, 1, 5, 30)),
        # ... and the second one once the first has passed
        (datetime(2026, 11, 1, 5, 45), "America/New_York", 1, 30, datetime(2026, 11, 1, 6, 30)),
    ],
)
def test_at_local_time(when, tz, hour, minute, expected):
    assert sendtime.at_local_time(when, tz, hour, minute) == expected


def test_at_local_time_checks_its_input():
    with pytest.raises(ValueError):
        sendtime.at_local_time(datetime(2026, 1, 1), "UTC", 24)
    with pytest.raises(ValueError):
        sendtime.at_local_time(datetime(2026, 1, 1, tzinfo=timezone.utc), "UTC", 1)


def test_exploration_share_is_kept_and_deterministic():
    draws = [sendtime.explores(f"7:{contact}", 0.1) for contact in range(20000)]
    share = sum(explore for explore, _pick in draws) / len(draws)
    assert 0.09 < share < 0.11
    assert draws == [sendtime.explores(f"7:{contact}", 0.1) for contact in range(20000)]
    picks = [pick for _explore, pick in draws]
    assert min(picks) >= 0
    assert max(picks) < 1
    assert abs(sum(picks) / len(picks) - 0.5) < 0.02
