"""Quiet hours: the first moment an SMS may be sent, in the recipient's local time.

Marketing SMS may only be sent inside a daily window of *local* time
(for example 08:00-21:00); outside it the message waits for the next
opening. Times in and out follow Odoo's convention: naive ``datetime``
objects in UTC.

Rules (:func:`next_allowed`):

* The recipient's zone is an IANA name resolved with :mod:`zoneinfo` (the
  system tz database, or the ``tzdata`` package). An empty or unknown name
  falls back to ``default_tz``, then to UTC.
* The window is ``[start_hour, end_hour)`` on the local wall clock; hours are
  floats (``8.5`` is 08:30) with ``0 <= start_hour < end_hour <= 24``, and
  ``end_hour == 24`` means "until midnight". A send time exactly at the start
  is allowed, exactly at the end is not.
* Inside the window the time is returned unchanged. Before the start it
  moves to the start on the same local day; at or after the end, to the
  start on the next local day.
* Daylight saving time (PEP 495 semantics): a local start that does not
  exist (spring-forward gap, e.g. 02:30 on 2026-03-08 in New York) becomes
  the first valid instant after it, which is the transition itself (03:00
  EDT). A local start that occurs twice (fall-back overlap) uses the first
  occurrence (``fold=0``), unless that one is already in the past, in which
  case the second occurrence is the next opening. If a transition swallows
  the whole window (a window inside a DST gap, or a day skipped altogether
  like Samoa's 2011-12-30) the search continues on the next day, so the
  result is always inside the window.

For a campaign, :func:`window_checker` validates the window once and
memoises results per ``(when, tz_name)``: a million recipients scheduled at
the same instant across a handful of zones cost a handful of computations.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["at_local_time", "explores", "next_allowed", "window_checker"]

# Resolved zones are immutable and few; cache them with the fallback applied.
_ZONE_CACHE_SIZE = 1024
# Results kept by a window_checker: one entry per distinct (when, tz_name).
_CHECKER_CACHE_SIZE = 65536
# A valid start is found on the next day at the latest, even around DST
# transitions and skipped days; the bound only guards against a broken zone.
_MAX_STEPS = 8


def _load_zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: malformed key ("../etc/passwd", absolute paths);
        # OSError: unreadable files in the tz database.
        return None


@lru_cache(maxsize=_ZONE_CACHE_SIZE)
def _resolve_zone(tz_name: str | None, default_tz: str | None) -> tzinfo:
    return _load_zone(tz_name) or _load_zone(default_tz) or timezone.utc


def _check_window(start_hour: float, end_hour: float) -> tuple[timedelta, timedelta]:
    if not 0 <= start_hour < end_hour <= 24:
        raise ValueError(
            f"quiet-hours window must satisfy 0 <= start < end <= 24, "
            f"got start={start_hour!r}, end={end_hour!r}"
        )
    return timedelta(hours=start_hour), timedelta(hours=end_hour)


def _offset_at(timestamp: int, zone: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


def _to_utc(wall: datetime, zone: tzinfo, not_before: datetime) -> datetime:
    """First UTC instant at which the local clock in ``zone`` reads ``wall``.

    ``wall`` is a naive local time; the result is an aware UTC datetime no
    earlier than ``not_before`` whenever the local time can still occur.
    """
    first = wall.replace(tzinfo=zone, fold=0)
    first_utc = first.astimezone(timezone.utc)
    if first_utc.astimezone(zone).replace(tzinfo=None) != wall:
        # Nonexistent local time (gap). fold=0 reads it with the offset from
        # before the transition, fold=1 with the offset after it; the
        # transition lies between the two instants. Find it to the second
        # (tz database transitions are on whole seconds).
        low = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp())
        high = math.ceil(first_utc.timestamp())
        offset_before = _offset_at(low, zone)
        while high - low > 1:
            middle = (low + high) // 2
            if _offset_at(middle, zone) == offset_before:
                low = middle
            else:
                high = middle
        return datetime.fromtimestamp(high, timezone.utc)
    if first_utc < not_before:
        # Ambiguous local time whose first occurrence has passed: use the second.
        second_utc = wall.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
        if second_utc >= not_before:
            return second_utc
    return first_utc


def _next_allowed(when: datetime, zone: tzinfo, start: timedelta, end: timedelta) -> datetime:
    current = when.replace(tzinfo=timezone.utc)
    for _ in range(_MAX_STEPS):
        local = current.astimezone(zone).replace(tzinfo=None)
        midnight = datetime.combine(local.date(), time())
        if midnight + start <= local < midnight + end:
            return current.replace(tzinfo=None)
        day: date = local.date() if local < midnight + start else local.date() + timedelta(days=1)
        target = datetime.combine(day, time()) + start
        candidate = _to_utc(target, zone, current)
        # Never move backwards (cannot happen with a sane zone, but cheap to enforce).
        current = max(candidate, current + timedelta(microseconds=1))
    raise RuntimeError(f"no allowed send time found after {when!r} in {zone!r}")


def _check_when(when: datetime) -> None:
    if not isinstance(when, datetime):
        raise TypeError(f"when must be a datetime, got {type(when).__name__}")
    if when.tzinfo is not None:
        raise ValueError("when must be a naive UTC datetime (Odoo convention)")


def next_allowed(
    when: datetime,
    tz_name: str | None,
    start_hour: float,
    end_hour: float,
    default_tz: str = "UTC",
) -> datetime:
    """Return the first moment at or after ``when`` inside the local window.

    Input: ``when``, a naive UTC datetime; the recipient's IANA zone name
    (empty, ``None``, Odoo's ``False`` or unknown names fall back to
    ``default_tz``, then UTC); the
    window's local start and end hours as floats.
    Output: a naive UTC datetime, ``when`` itself if it is inside the window.
    Raises ``ValueError`` unless ``0 <= start_hour < end_hour <= 24`` or when
    ``when`` is timezone-aware, ``TypeError`` when it is not a datetime.
    """
    start, end = _check_window(start_hour, end_hour)
    _check_when(when)
    return _next_allowed(when, _resolve_zone(tz_name, default_tz), start, end)


def window_checker(
    start_hour: float, end_hour: float, default_tz: str = "UTC"
) -> Callable[[datetime, str | None], datetime]:
    """Return a memoising ``(when, tz_name) -> datetime`` for one window.

    Input: the window and fallback zone, as for :func:`next_allowed` (the
    window is validated here, once).
    Output: a callable equivalent to ``next_allowed(when, tz_name,
    start_hour, end_hour, default_tz)`` whose results are cached per
    ``(when, tz_name)`` (least recently used entries are dropped past
    65,536 keys); it exposes ``cache_info()`` and ``cache_clear()``.
    """
    start, end = _check_window(start_hour, end_hour)

    @lru_cache(maxsize=_CHECKER_CACHE_SIZE)
    def check(when: datetime, tz_name: str | None) -> datetime:
        _check_when(when)
        return _next_allowed(when, _resolve_zone(tz_name, default_tz), start, end)

    return check


def at_local_time(
    when: datetime, tz_name: str | None, hour: int, minute: int = 0, default_tz: str = "UTC"
) -> datetime:
    """The first moment at or after ``when`` at which the local clock reads
    ``hour:minute``: within the next 24 hours (25 around a DST change).

    Input: ``when``, a naive UTC datetime; the zone as for :func:`next_allowed`;
    ``0 <= hour < 24``, ``0 <= minute < 60``.
    Output: a naive UTC datetime. A local time a DST gap skips becomes the
    transition itself; one a DST overlap repeats, its first occurrence still ahead.
    """
    _check_when(when)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"hour must be 0-23 and minute 0-59, got {hour!r}:{minute!r}")
    zone = _resolve_zone(tz_name, default_tz)
    current = when.replace(tzinfo=timezone.utc)
    local = current.astimezone(zone).replace(tzinfo=None)
    for offset in (0, 1, 2):
        wall = datetime.combine(local.date() + timedelta(days=offset), time(hour, minute))
        candidate = _to_utc(wall, zone, current)
        if candidate >= current:
            return candidate.replace(tzinfo=None)
    raise RuntimeError(f"{hour}:{minute} not found after {when!r} in {zone!r}")


def explores(key: str, share: float) -> tuple[bool, float]:
    """Whether the send of ``key`` (e.g. ``"campaign:contact"``) is one of the ``share``
    kept for exploration, and a number in [0, 1) drawn from the same key to pick its
    hour: deterministic, so a campaign prepared twice schedules the same."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    first = int.from_bytes(digest[:4], "big") / 2**32
    second = int.from_bytes(digest[4:], "big") / 2**32
    return first < share, second
