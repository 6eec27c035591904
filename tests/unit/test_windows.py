"""Calling windows judged in every time zone a number may be in (compliance/windows.py) through
`call_decision`, the one place a window is judged: informational calls, which no hour rule
covers here, so the window alone decides. No database; the instant is passed in."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.rules import call_decision
from compliance.windows import HORIZON, CallingWindow, number_time_zones

DEFAULT = CallingWindow()
WEEKDAYS_ONLY = frozenset({1, 2, 3, 4, 5})
# 2026-01-14 is a Wednesday; the US is on standard time (New York UTC-5, Denver UTC-7).
WEDNESDAY = datetime(2026, 1, 14, tzinfo=UTC)
# A number phonenumbers places in no zone (international freephone): judged in the business's.
NOWHERE = "+80012345678"
LOS_ANGELES = "+14155550100"
NEW_YORK = "+12125550100"
# Two area codes whose zones straddle a boundary, each zone deciding at one end of the day:
# 701 (North Dakota) is Mountain and Central; 208 (Idaho) is Mountain and Pacific.
NORTH_DAKOTA = "+17015550123"
IDAHO = "+12085550123"


def at(hours: float, day: datetime = WEDNESDAY) -> datetime:
    return day + timedelta(hours=hours)


def decide(number, now, window=DEFAULT, zone="UTC"):
    return call_decision(
        number=number, purpose="informational", at=now, window=window, fallback_zone=zone
    )


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        (LOS_ANGELES, ("America/Los_Angeles",)),
        (NORTH_DAKOTA, ("America/Denver", "America/North_Dakota/Center")),
        (IDAHO, ("America/Boise", "America/Los_Angeles")),
        (NOWHERE, ()),
        ("not a number", ()),
    ],
)
def test_a_numbers_time_zones_come_from_phonenumbers(number, zones):
    assert number_time_zones(number) == zones


def test_the_business_zone_decides_when_the_number_has_none():
    decision = decide(NOWHERE, at(14), zone="Asia/Tokyo")  # 23:00 in Tokyo
    assert (decision.allowed, decision.opening) == (False, at(23))  # 08:00 in Tokyo
    assert decide(LOS_ANGELES, at(14), zone="Asia/Tokyo").opening == at(16)  # 08:00 there


def test_inside_the_window_a_call_may_be_placed_now():
    now = at(20)  # noon in Los Angeles
    decision = decide(LOS_ANGELES, now)
    assert (decision.allowed, decision.opening, decision.reason) == (True, now, "")


def test_before_the_window_the_next_opening_is_the_same_mornings():
    decision = decide(LOS_ANGELES, at(12))  # 04:00 in Los Angeles
    assert (decision.allowed, decision.opening) == (False, at(16))
    assert decision.reason == "outside the calling window (08:00–21:00, every day) until 08:00 PST"


def test_after_the_window_the_next_opening_is_the_next_mornings_and_names_the_day():
    decision = decide(NEW_YORK, at(2 + 24))  # Wed 21:00 in New York
    assert decision.opening == at(13 + 24)
    assert decision.reason.endswith("until Thu 08:00 EST")


def test_a_number_in_two_zones_waits_for_the_later_opening():
    now = at(14, WEDNESDAY) + timedelta(minutes=30)  # 08:30 Central, 07:30 Mountain
    decision = decide(NORTH_DAKOTA, now)
    assert decision.opening == at(15)
    assert decision.reason.endswith("until 08:00 MST")


def test_a_number_in_two_zones_stops_at_the_earlier_closing():
    # 21:30 Central is outside though 20:30 Mountain is inside: the next opening is 08:00
    # Mountain the next day.
    decision = decide(NORTH_DAKOTA, at(3 + 24) + timedelta(minutes=30))
    assert (decision.allowed, decision.opening) == (False, at(15 + 24))


def test_the_zone_listed_second_opens_the_morning_for_idaho():
    # Wednesday 15:30 UTC: 08:30 Mountain (open), 07:30 Pacific (closed).
    decision = decide(IDAHO, at(15.5))
    assert (decision.allowed, decision.opening) == (False, at(16))
    assert decision.reason.endswith("until 08:00 PST")


def test_weekdays_outside_the_window_are_skipped():
    saturday = WEDNESDAY + timedelta(days=3)
    decision = decide(NEW_YORK, at(17, saturday), CallingWindow(days=WEEKDAYS_ONLY))  # Sat noon
    assert decision.opening == at(13, saturday + timedelta(days=2))  # Mon 08:00
    assert decision.reason == (
        "outside the calling window (08:00–21:00, Mon, Tue, Wed, Thu, Fri) until Mon 08:00 EST"
    )


def test_a_campaign_narrows_the_hours_and_days_and_never_widens_them():
    narrowed = DEFAULT.narrowed(start_hour=10, end_hour=23, days=[6, 7])
    assert narrowed == CallingWindow(10, 21, frozenset({6, 7}))
    assert DEFAULT.narrowed() == DEFAULT
    assert narrowed.describe() == "10:00–21:00, Sat, Sun"
    assert DEFAULT.describe() == "08:00–21:00, every day"


def test_a_spring_forward_opening_is_the_first_instant_past_the_skipped_hour():
    # 2026-03-08: New York skips 02:00-03:00 (07:00 UTC); a window from 02:00 opens at 03:00.
    sunday = datetime(2026, 3, 8, tzinfo=UTC)
    decision = decide(NEW_YORK, at(5, sunday), CallingWindow(2, 5))
    assert decision.opening == at(7, sunday)
    assert decision.reason.endswith("until 03:00 EDT")


def test_a_fall_back_night_opens_at_eight_on_the_new_offset():
    # 2026-11-01: New York goes back from UTC-4 to UTC-5 at 06:00 UTC.
    sunday = datetime(2026, 11, 1, tzinfo=UTC)
    assert decide(NEW_YORK, at(5.5, sunday)).opening == at(13, sunday)
    # A day earlier, still on summer time, 08:00 is 12:00 UTC.
    saturday = sunday - timedelta(days=1)
    assert decide(NEW_YORK, at(5.5, saturday)).opening == at(12, saturday)


def test_a_day_the_zone_skips_has_no_window():
    # Samoa skipped Friday 30 December 2011 to cross the date line: a Friday-only window opens
    # on the next Friday there is, 6 January 2012 08:00 (UTC+14).
    fridays = CallingWindow(days=frozenset({5}))
    now = datetime(2011, 12, 29, 12, tzinfo=UTC)
    decision = decide(NOWHERE, now, fridays, zone="Pacific/Apia")
    assert decision.opening == datetime(2012, 1, 5, 18, tzinfo=UTC)


def test_zones_with_no_common_time_give_a_reason_and_no_opening():
    # 09:00-10:00 Central and 09:00-10:00 Mountain never meet.
    decision = decide(NORTH_DAKOTA, at(0), CallingWindow(9, 10))
    assert (decision.allowed, decision.opening) == (False, None)
    assert decision.reason == (
        "outside the calling window (09:00–10:00, every day), with no opening in the next 8 days"
    )


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


zones = st.sampled_from(ZONES)


def grid_after(now: datetime):
    """`now`, then the grid's instants after it."""
    yield now
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    step = epoch + ((now - epoch) // GRID + 1) * GRID
    while True:
        yield step
        step += GRID


# A number no zone is known for, in each of these zones as the business's (the numbers in
# several zones at once are generated by tests/unit/test_call_decision_property.py).
@settings(max_examples=300, deadline=None)
@given(windows(), zones, instants)
def test_the_opening_is_inside_and_nothing_earlier_is(window, zone, now):
    decision = decide(NOWHERE, now, window, zone)
    assert decision.allowed == window.contains(now, zone)
    assert (decision.reason == "") == decision.allowed
    if decision.opening is None:
        for instant in grid_after(now):
            if instant >= now + timedelta(days=7):
                break
            assert not window.contains(instant, zone), instant
        return
    opening = decision.opening
    assert now <= opening < now + HORIZON
    assert window.contains(opening, zone)
    if opening > now:
        assert not window.contains(opening - timedelta(seconds=1), zone)
    for instant in grid_after(now):
        if instant >= opening:
            break
        assert not window.contains(instant, zone), instant
