"""Calling windows: the hours and weekdays a callee may be called, in their local time, and the
arithmetic of open spans that `call_decision` (compliance/rules/decision.py) judges them with.

A number may be in several time zones (a US area code spanning two, a toll-free or mobile number
phonenumbers cannot place): a call may be placed only at an instant inside the window in every
one of them (fail closed). Pure: no database and no clock, the caller passes the instant.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import timezone as number_zones

# ISO weekdays, as datetime.isoweekday() counts them.
WEEKDAYS = [(1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun")]
DEFAULT_START_HOUR = 8
DEFAULT_END_HOUR = 21
# Every weekday comes round within a week; the extra day leaves room for a DST change. A window
# with no common time in this span has none at all, whatever the date.
HORIZON = timedelta(days=8)
UNKNOWN_ZONE = "Etc/Unknown"


def every_day() -> list[int]:
    return [day for day, _ in WEEKDAYS]


@cache
def zone_info(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True)
class CallingWindow:
    """From `start_hour` to `end_hour` (24 is midnight at the end of the day) on `days`."""

    start_hour: int = DEFAULT_START_HOUR
    end_hour: int = DEFAULT_END_HOUR
    days: frozenset[int] = frozenset(every_day())

    def narrowed(self, *, start_hour=None, end_hour=None, days=()) -> "CallingWindow":
        """This window cut down to another's hours and days (None and empty leave it as is)."""
        return CallingWindow(
            start_hour=max(self.start_hour, self.start_hour if start_hour is None else start_hour),
            end_hour=min(self.end_hour, self.end_hour if end_hour is None else end_hour),
            days=self.days & frozenset(days) if days else self.days,
        )

    def contains(self, instant: datetime, zone: str) -> bool:
        local = instant.astimezone(zone_info(zone))
        return local.isoweekday() in self.days and self.start_hour <= local.hour < self.end_hour

    def describe(self) -> str:
        days = ", ".join(name for day, name in WEEKDAYS if day in self.days) or "no day"
        if self.days == frozenset(every_day()):
            days = "every day"
        return f"{self.start_hour:02d}:00–{self.end_hour:02d}:00, {days}"


def wall_instant(day: date, minute: int, tz: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of `minute` minutes past midnight of `day` in `tz` (1440: the next
    midnight): a wall time a spring-forward skips becomes the first instant past it, one that
    occurs twice its first occurrence."""
    day, minute = day + timedelta(days=minute // 1440), minute % 1440
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    instant = wall.replace(tzinfo=tz).astimezone(UTC)
    if _wall(instant, tz) == wall:
        return instant
    # A spring-forward skips `wall`: the first instant past it is the transition, found to the
    # second (transitions fall on whole seconds) between the two readings zoneinfo offers.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(instant.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(instant: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def intersect_spans(spans_a: list, spans_b: list) -> list:
    """The common parts of two ordered lists of disjoint (start, end) spans."""
    common, i, j = [], 0, 0
    while i < len(spans_a) and j < len(spans_b):
        low = max(spans_a[i][0], spans_b[j][0])
        high = min(spans_a[i][1], spans_b[j][1])
        if low < high:
            common.append((low, high))
        if spans_a[i][1] < spans_b[j][1]:
            i += 1
        else:
            j += 1
    return common


@lru_cache(maxsize=4096)
def number_time_zones(number: str) -> tuple[str, ...]:
    """The time zones phonenumbers places an E.164 number in; empty when it cannot say."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    zones = number_zones.time_zones_for_number(parsed)
    return tuple(sorted(z for z in zones if z != UNKNOWN_ZONE and z in _known_zones()))
