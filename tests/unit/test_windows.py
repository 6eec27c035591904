"""Calling windows judged in every time zone a number may be in (compliance/windows.py): no
database, the instant is passed in."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.windows import (
    HORIZON,
    CallingWindow,
    callee_time_zones,
    number_time_zones,
    window_check,
    window_opening,
)

DEFAULT = CallingWindow()
WEEKDAYS_ONLY = frozenset({1, 2, 3, 4, 5})
# 2026-01-14 is a Wednesday; the US is on standard time (New York UTC-5, Denver UTC-7).
WEDNESDAY = datetime(2026, 1, 14, tzinfo=UTC)


def at(hours: float, day: datetime = WEDNESDAY) -> datetime:
    return day + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+14155550100", ("America/Los_Angeles",)),
        # North Dakota's 701 spans Mountain and Central time; Idaho's 208 Mountain and Pacific.
        ("+17015550100", ("America/Denver", "America/North_Dakota/Center")),
        ("+12085550100", ("America/Boise", "America/Los_Angeles")),
        # A non-geographic number (international freephone) has no zone.
        ("+80012345678", ()),
        ("not a number", ()),
    ],
)
def test_a_numbers_time_zones_come_from_phonenumbers(number, zones):
    assert number_time_zones(number) == zones


def test_the_business_zone_decides_when_the_numbers_is_unknown():
    assert callee_time_zones("+80012345678", "Asia/Tokyo") == ("Asia/Tokyo",)
    assert callee_time_zones("+14155550100", "Asia/Tokyo") == ("America/Los_Angeles",)


def test_inside_the_window_a_call_may_be_placed_now():
    now = at(20)  # noon in Los Angeles
    check = window_check(DEFAULT, ["America/Los_Angeles"], now)
    assert check.is_open
    assert (check.opening, check.reason) == (now, "")


def test_before_the_window_the_next_opening_is_the_same_mornings():
    check = window_check(DEFAULT, ["America/Los_Angeles"], at(12))  # 04:00 in Los Angeles
    assert not check.is_open
    assert check.opening == at(16)
    assert check.reason == "outside the calling window until 08:00 America/Los_Angeles"


def test_after_the_window_the_next_opening_is_the_next_mornings_and_names_the_day():
    check = window_check(DEFAULT, ["America/New_York"], at(2 + 24))  # Wed 21:00 in New York
    assert check.opening == at(13 + 24)
    assert check.reason == "outside the calling window until Thu 15 Jan 08:00 America/New_York"


def test_a_number_in_two_zones_waits_for_the_later_opening():
    zones = number_time_zones("+17015550100")
    now = at(14, WEDNESDAY) + timedelta(minutes=30)  # 08:30 Central, 07:30 Mountain
    check = window_check(DEFAULT, zones, now)
    assert check.opening == at(15)
    assert check.reason == "outside the calling window until 08:00 America/Denver"


def test_a_number_in_two_zones_stops_at_the_earlier_closing():
    zones = number_time_zones("+17015550100")
    # 21:30 Central is outside though 20:30 Mountain is inside: the next opening is 08:00
    # Mountain the next day.
    check = window_check(DEFAULT, zones, at(3 + 24, WEDNESDAY) + timedelta(minutes=30))
    assert check.opening == at(15 + 24)


def test_weekdays_outside_the_window_are_skipped():
    window = CallingWindow(days=WEEKDAYS_ONLY)
    saturday = WEDNESDAY + timedelta(days=3)
    check = window_check(window, ["America/New_York"], at(17, saturday))  # Sat noon
    assert check.opening == at(13, saturday + timedelta(days=2))  # Mon 08:00
    assert check.reason == "outside the calling window until Mon 19 Jan 08:00 America/New_York"


def test_a_campaign_narrows_the_hours_and_days_and_never_widens_them():
    narrowed = DEFAULT.narrowed(start_hour=10, end_hour=23, days=[6, 7])
    assert narrowed == CallingWindow(10, 21, frozenset({6, 7}))
    assert DEFAULT.narrowed() == DEFAULT
    assert narrowed.describe() == "10:00–21:00, Sat, Sun"
    assert DEFAULT.describe() == "08:00–21:00, every day"


def test_a_spring_forward_opening_is_the_first_instant_past_the_skipped_hour():
    # 2026-03-08: New York skips 02:00-03:00 (07:00 UTC); a window from 02:00 opens at 03:00.
    sunday = datetime(2026, 3, 8, tzinfo=UTC)
    check = window_check(CallingWindow(2, 5), ["America/New_York"], at(5, sunday))
    assert check.opening == at(7, sunday)
    assert check.reason == "outside the calling window until 03:00 America/New_York"


def test_a_fall_back_night_opens_at_eight_on_the_new_offset():
    # 2026-11-01: New York goes back from UTC-4 to UTC-5 at 06:00 UTC.
    sunday = datetime(2026, 11, 1, tzinfo=UTC)
    assert window_opening(DEFAULT, ["America/New_York"], at(5.5, sunday)) == at(13, sunday)
    # A day earlier, still on summer time, 08:00 is 12:00 UTC.
    saturday = sunday - timedelta(days=1)
    assert window_opening(DEFAULT, ["America/New_York"], at(5.5, saturday)) == at(12, saturday)


def test_a_day_the_zone_skips_has_no_window():
    # Samoa skipped Friday 30 December 2011 to cross the date line: a Friday-only window opens
    # on the next Friday there is, 6 January 2012 08:00 (UTC+14).
    fridays = CallingWindow(days=frozenset({5}))
    now = datetime(2011, 12, 29, 12, tzinfo=UTC)
    assert window_opening(fridays, ["Pacific/Apia"], now) == datetime(2012, 1, 5, 18, tzinfo=UTC)


def test_zones_with_no_common_time_give_a_reason_and_no_opening():
    check = window_check(CallingWindow(9, 10), ["America/New_York", "America/Los_Angeles"], at(0))
    assert check.opening is None
    assert not check.is_open
    assert check.reason == (
        "no time in the next 8 days is inside the calling window (09:00–10:00, every day) in "
        "every time zone of the number (America/New_York, America/Los_Angeles)"
    )


def test_a_long_zone_list_is_named_in_short():
    zones = [f"Etc/GMT{sign}{n}" for sign in "+-" for n in (6, 7, 8)]
    check = window_check(CallingWindow(9, 10), zones, at(0))
    assert "(Etc/GMT+6, Etc/GMT+7, Etc/GMT+8 and 3 more)" in check.reason


# Zones with odd offsets and odd transitions: half and quarter hours, a half-hour DST (Lord Howe),
# transitions at midnight (Santiago, Havana), a DST that stops for Ramadan (Casablanca), the far
# sides of the date line (Guam, Pago Pago, Kiritimati).
ZONES = [
    "America/New_York",
    "America/Denver",
    "America/North_Dakota/Center",
    "America/Phoenix",
    "America/St_Johns",
    "America/Santiago",
    "America/Havana",
    "Europe/London",
    "Africa/Casablanca",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Australia/Eucla",
    "Pacific/Chatham",
    "Pacific/Guam",
    "Pacific/Pago_Pago",
    "Pacific/Kiritimati",
    "UTC",
]
GRID = timedelta(minutes=15)  # every window edge and DST transition of these zones is on it


@st.composite
def windows(draw):
    start = draw(st.integers(0, 23))
    end = draw(st.integers(start + 1, 24))
    days = draw(st.frozensets(st.integers(1, 7), min_size=1))
    return CallingWindow(start, end, days)


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)
)
zone_sets = st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True)


def inside_everywhere(window, zones, instant) -> bool:
    return all(window.contains(instant, zone) for zone in zones)


def grid_after(now: datetime):
    """`now`, then the grid's instants after it."""
    yield now
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    step = epoch + ((now - epoch) // GRID + 1) * GRID
    while True:
        yield step
        step += GRID


@settings(max_examples=300, deadline=None)
@given(windows(), zone_sets, instants)
def test_the_opening_is_inside_in_every_zone_and_nothing_earlier_is(window, zones, now):
    opening = window_opening(window, zones, now)
    if opening is None:
        return
    assert now <= opening < now + HORIZON
    assert inside_everywhere(window, zones, opening)
    if opening > now:
        assert not inside_everywhere(window, zones, opening - timedelta(seconds=1))
    for instant in grid_after(now):
        if instant >= opening:
            break
        assert not inside_everywhere(window, zones, instant), instant


@settings(max_examples=150, deadline=None)
@given(windows(), zone_sets, instants)
def test_no_opening_means_no_instant_of_the_coming_week_is_inside_everywhere(window, zones, now):
    if window_opening(window, zones, now) is not None:
        return
    for instant in grid_after(now):
        if instant >= now + timedelta(days=7):
            break
        assert not inside_everywhere(window, zones, instant), instant


@settings(max_examples=200, deadline=None)
@given(windows(), zone_sets, instants)
def test_a_check_is_open_exactly_when_now_is_inside_everywhere(window, zones, now):
    check = window_check(window, zones, now)
    assert check.is_open == inside_everywhere(window, zones, now)
    assert (check.reason == "") == check.is_open


# Two area codes whose zones straddle a boundary, each zone deciding at one end of the day:
# 701 (North Dakota) is Mountain and Central; 208 (Idaho) is Mountain and Pacific.
NORTH_DAKOTA = "+17015550123"
IDAHO = "+12085550123"


def test_a_number_in_two_zones_keeps_both():
    assert number_time_zones(NORTH_DAKOTA) == ("America/Denver", "America/North_Dakota/Center")
    assert number_time_zones(IDAHO) == ("America/Boise", "America/Los_Angeles")
    assert callee_time_zones(IDAHO, "UTC") == ("America/Boise", "America/Los_Angeles")


def test_the_zone_listed_second_closes_the_evening_for_north_dakota():
    # Thursday 03:30 UTC: 21:30 Central (closed), 20:30 Mountain (open).
    check = window_check(CallingWindow(), callee_time_zones(NORTH_DAKOTA, "UTC"), at(24 + 3.5))
    assert not check.is_open
    assert check.opening == at(24 + 15)  # 08:00 Mountain, when both are open again


def test_the_zone_listed_second_opens_the_morning_for_idaho():
    # Wednesday 15:30 UTC: 08:30 Mountain (open), 07:30 Pacific (closed).
    check = window_check(CallingWindow(), callee_time_zones(IDAHO, "UTC"), at(15.5))
    assert not check.is_open
    assert check.opening == at(16)
    assert check.reason == "outside the calling window until 08:00 America/Los_Angeles"
