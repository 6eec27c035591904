"""Calling windows: the hours and weekdays a callee may be called, judged in their local time.

A number may be in several time zones (a US area code spanning two, a toll-free or mobile number
phonenumbers cannot place): a call may be placed only at an instant inside the window in every
one of them (fail closed). Pure: no database and no clock, the caller passes `now`.
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


def _open_spans(window: CallingWindow, zone: str, start: datetime, end: datetime):
    """The window's open spans in `zone` around [start, end), as UTC instants, in order.

    A local time skipped by a spring-forward becomes the first instant past it, and one that
    occurs twice its first occurrence (zoneinfo's fold=0): both agree with what `contains` says
    of the instants around them.
    """
    tz = zone_info(zone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        if day.isoweekday() in window.days:
            opens, closes = _instant(day, window.start_hour, tz), _instant(day, window.end_hour, tz)
            if opens < closes:
                yield opens, closes
        day += timedelta(days=1)


def _instant(day: date, hour: int, tz: zoneinfo.ZoneInfo) -> datetime:
    return wall_instant(day, hour * 60, tz)


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


def window_opening(window: CallingWindow, zones, now: datetime) -> datetime | None:
    """The earliest instant at or after `now` inside `window` in every one of `zones` (`now`
    itself when it is inside); None when there is none within HORIZON."""
    common = [(now, now + HORIZON)]
    for zone in zones:
        common = intersect_spans(common, list(_open_spans(window, zone, now, now + HORIZON)))
        if not common:
            return None
    return common[0][0]


@lru_cache(maxsize=4096)
def number_time_zones(number: str) -> tuple[str, ...]:
    """The time zones phonenumbers places an E.164 number in; empty when it cannot say."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    zones = number_zones.time_zones_for_number(parsed)
    return tuple(sorted(z for z in zones if z != UNKNOWN_ZONE and z in _known_zones()))


def callee_time_zones(number: str, fallback_zone: str) -> tuple[str, ...]:
    """The zones a window is judged in: the number's, or the business's when none is known."""
    return number_time_zones(number) or (fallback_zone,)


@dataclass(frozen=True)
class WindowCheck:
    """Whether a call may be placed now; if not, when it may (None: never) and why not."""

    opening: datetime | None
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.opening is not None and not self.reason


def window_check(window: CallingWindow, zones, now: datetime) -> WindowCheck:
    zones = tuple(zones)
    if all(window.contains(now, zone) for zone in zones):
        return WindowCheck(now)  # the usual case, without building a week of spans
    opening = window_opening(window, zones, now)
    if opening == now:
        return WindowCheck(now)
    if opening is None:
        named = ", ".join(zones[:3]) + (f" and {len(zones) - 3} more" if len(zones) > 3 else "")
        return WindowCheck(
            None,
            f"no time in the next {HORIZON.days} days is inside the calling window "
            f"({window.describe()}) in every time zone of the number ({named})",
        )
    when = _when(window, zones, opening, now)
    return WindowCheck(opening, f"outside the calling window until {when}")


def _when(window: CallingWindow, zones: tuple[str, ...], opening: datetime, now: datetime) -> str:
    """The opening in the zone that opens last (where the instant before it is still outside)."""
    before = opening - timedelta(microseconds=1)
    zone = next((z for z in zones if not window.contains(before, z)), zones[0])
    local = opening.astimezone(zone_info(zone))
    if local.date() == now.astimezone(zone_info(zone)).date():
        return f"{local:%H:%M} {zone}"
    return f"{local:%a %d %b %H:%M} {zone}"
