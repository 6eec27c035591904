"""The calling rules at their edges: the minute before and after each boundary, Sundays,
holidays, DST changes in the callee's zone, the caps and quiet periods, purposes, an address
region stricter than the number's, and a region that cannot be told."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from compliance.rules import call_decision, region_problem
from compliance.windows import CallingWindow

NEW_JERSEY = "+12015550123"  # no state rule: the federal floor alone
MIAMI = "+13055550123"
BIRMINGHAM = "+12055550123"
JACKSON_MS = "+16015550123"
LOUISVILLE = "+15025550123"
MINNEAPOLIS = "+16125550123"
OKLAHOMA_CITY = "+14055550123"
BALTIMORE = "+14105550123"
HOUSTON = "+17135550123"
SAN_FRANCISCO = "+14155550123"
TORONTO = "+14165550123"
LONDON = "+442079460123"
PARIS = "+33612345678"
TOLL_FREE = "+18005550123"


def local(zone, *fields):
    return datetime(*fields, tzinfo=ZoneInfo(zone))


def ask(number, purpose, at, **kwargs):
    return call_decision(number=number, purpose=purpose, at=at, **kwargs)


def assert_allowed(decision):
    assert decision.allowed, decision.reason
    assert decision.reason == ""


def assert_held_until(decision, opening):
    assert not decision.allowed
    assert decision.opening == opening.astimezone(UTC)


def test_the_federal_floor_opens_at_8_and_closes_at_21_for_telemarketing():
    ny = "America/New_York"
    assert_held_until(
        ask(NEW_JERSEY, "telemarketing", local(ny, 2026, 12, 9, 7, 59)), local(ny, 2026, 12, 9, 8)
    )
    assert_allowed(ask(NEW_JERSEY, "telemarketing", local(ny, 2026, 12, 9, 8, 0)))
    assert_allowed(ask(NEW_JERSEY, "telemarketing", local(ny, 2026, 12, 9, 20, 59)))
    held = ask(NEW_JERSEY, "telemarketing", local(ny, 2026, 12, 9, 21, 0))
    assert_held_until(held, local(ny, 2026, 12, 10, 8))
    assert (
        held.reason
        == "United States: telemarketing 08:00–21:00 (47 CFR 64.1200(c)(1)) until Thu 08:00 EST"
    )
    assert held.rule.id == "us-tcpa-telemarketing-hours"


def test_the_fdcpa_holds_debt_collection_to_8_to_21():
    ny = "America/New_York"
    held = ask(NEW_JERSEY, "debt_collection", local(ny, 2026, 12, 9, 7, 59))
    assert held.rule.id == "us-fdcpa-hours"
    assert held.reason.endswith("(15 U.S.C. 1692c(a)(1)) until 08:00 EST")
    assert_allowed(ask(NEW_JERSEY, "debt_collection", local(ny, 2026, 12, 9, 20, 59)))


def test_florida_stops_telemarketing_at_20():
    ny = "America/New_York"
    assert_allowed(ask(MIAMI, "telemarketing", local(ny, 2026, 12, 9, 19, 59)))
    held = ask(MIAMI, "telemarketing", local(ny, 2026, 12, 9, 20, 0))
    assert_held_until(held, local(ny, 2026, 12, 10, 8))
    assert (
        held.reason
        == "Florida: telemarketing 08:00–20:00 (Fla. Stat. 501.616(6)) until Thu 08:00 EST"
    )
    assert held.rule.id == "us-fl-telemarketing"


def test_the_fourth_florida_telemarketing_call_in_24_h_waits_until_24_h_after_the_first():
    ny = "America/New_York"
    attempts = [local(ny, 2026, 12, 9, 16), local(ny, 2026, 12, 9, 17), local(ny, 2026, 12, 9, 18)]
    held = ask(MIAMI, "telemarketing", local(ny, 2026, 12, 10, 9), attempts=attempts)
    assert_held_until(held, local(ny, 2026, 12, 10, 16))
    assert (
        held.reason
        == "Florida: 3 calls in 24 h to this number (Fla. Stat. 501.616(6)) until 16:00 EST"
    )
    assert not ask(
        MIAMI, "telemarketing", local(ny, 2026, 12, 10, 15, 59), attempts=attempts
    ).allowed
    assert_allowed(ask(MIAMI, "telemarketing", local(ny, 2026, 12, 10, 16, 0), attempts=attempts))
    # Two in the last day and one older: the cap is not reached.
    assert_allowed(
        ask(
            MIAMI,
            "telemarketing",
            local(ny, 2026, 12, 10, 16, 30),
            attempts=attempts[1:] + [local(ny, 2026, 12, 8, 12)],
        )
    )


def test_the_caps_of_oklahoma_and_maryland_are_three_in_24_h_too():
    for number, zone in ((OKLAHOMA_CITY, "America/Chicago"), (BALTIMORE, "America/New_York")):
        attempts = [local(zone, 2026, 12, 9, hour) for hour in (10, 11, 12)]
        held = ask(number, "telemarketing", local(zone, 2026, 12, 9, 13), attempts=attempts)
        assert held.rule.cap_calls == 3
        assert_held_until(held, local(zone, 2026, 12, 10, 10))


def test_an_eighth_debt_collection_call_in_7_days_waits_until_7_days_after_the_oldest():
    la = "America/Los_Angeles"
    attempts = [local(la, 2026, 12, 7 + day, 10) for day in range(7)]
    held = ask(SAN_FRANCISCO, "debt_collection", local(la, 2026, 12, 14, 9), attempts=attempts)
    assert_held_until(held, local(la, 2026, 12, 14, 10))
    assert held.rule.id == "us-reg-f-call-frequency"
    assert (
        held.reason
        == "United States: 7 calls in 7 days to this number (12 CFR 1006.14(b)(2)) until 10:00 PST"
    )
    assert not ask(
        SAN_FRANCISCO, "debt_collection", local(la, 2026, 12, 14, 9, 59), attempts=attempts
    ).allowed
    assert_allowed(
        ask(SAN_FRANCISCO, "debt_collection", local(la, 2026, 12, 14, 10), attempts=attempts)
    )
    # The cap is Reg F's: a telemarketing call to the same number is not held by it.
    assert_allowed(
        ask(SAN_FRANCISCO, "telemarketing", local(la, 2026, 12, 14, 9), attempts=attempts)
    )


def test_no_debt_collection_call_within_7_days_after_a_conversation():
    la = "America/Los_Angeles"
    talked = [local(la, 2026, 12, 7, 10, 30)]
    held = ask(SAN_FRANCISCO, "debt_collection", local(la, 2026, 12, 13, 20), conversations=talked)
    assert_held_until(held, local(la, 2026, 12, 14, 10, 30))
    assert held.reason == (
        "United States: no call within 7 days after a conversation (12 CFR 1006.14(b)(2)) "
        "until Mon 10:30 PST"
    )
    assert not ask(
        SAN_FRANCISCO, "debt_collection", local(la, 2026, 12, 14, 10, 29), conversations=talked
    ).allowed
    assert_allowed(
        ask(SAN_FRANCISCO, "debt_collection", local(la, 2026, 12, 14, 10, 30), conversations=talked)
    )
    assert_allowed(
        ask(SAN_FRANCISCO, "informational", local(la, 2026, 12, 13, 20), conversations=talked)
    )


def test_alabama_allows_no_telemarketing_on_sundays():
    ch = "America/Chicago"
    assert_allowed(ask(BIRMINGHAM, "telemarketing", local(ch, 2026, 12, 12, 19, 59)))
    assert_held_until(
        ask(BIRMINGHAM, "telemarketing", local(ch, 2026, 12, 12, 20)), local(ch, 2026, 12, 14, 8)
    )
    sunday = ask(BIRMINGHAM, "telemarketing", local(ch, 2026, 12, 13, 12))
    assert (
        sunday.reason
        == "Alabama: no telemarketing on Sundays (Ala. Admin. Code r. 770-X-5-.17(1)(b)) "
        "until Mon 08:00 CST"
    )
    assert_held_until(
        ask(BIRMINGHAM, "telemarketing", local(ch, 2026, 12, 14, 7, 59)), local(ch, 2026, 12, 14, 8)
    )
    assert_allowed(ask(BIRMINGHAM, "telemarketing", local(ch, 2026, 12, 14, 8)))


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        (BIRMINGHAM, "America/Chicago"),
        ("+15045550123", "America/Chicago"),
        (JACKSON_MS, "America/Chicago"),
    ],
    ids=["alabama", "louisiana", "mississippi"],
)
def test_the_gulf_states_bar_telemarketing_on_their_holidays(number, zone):
    christmas = ask(number, "telemarketing", local(zone, 2026, 12, 25, 12))
    assert "no telemarketing on holidays (Christmas Day)" in christmas.reason
    assert_held_until(christmas, local(zone, 2026, 12, 26, 8))
    assert_allowed(ask(number, "telemarketing", local(zone, 2026, 12, 24, 19, 59)))


def test_a_holiday_the_file_lists_bars_calls_too():
    held = ask(BIRMINGHAM, "telemarketing", local("America/Chicago", 2026, 12, 1, 12))
    assert "no telemarketing on holidays (a holiday the rule lists)" in held.reason
    assert_held_until(held, local("America/Chicago", 2026, 12, 2, 8))


def test_mississippi_reads_central_standard_time_all_year():
    ch = "America/Chicago"
    summer = ask(JACKSON_MS, "telemarketing", local(ch, 2026, 7, 9, 8, 59))
    assert_held_until(summer, local(ch, 2026, 7, 9, 9))
    assert summer.reason.endswith("until 09:00 CDT")
    assert_allowed(ask(JACKSON_MS, "telemarketing", local(ch, 2026, 7, 9, 19, 59)))
    assert not ask(JACKSON_MS, "telemarketing", local(ch, 2026, 7, 9, 20)).allowed
    assert_allowed(ask(JACKSON_MS, "telemarketing", local(ch, 2026, 12, 9, 8, 0)))


def test_kentucky_starts_at_10_and_minnesota_at_9():
    assert_held_until(
        ask(LOUISVILLE, "telemarketing", local("America/New_York", 2026, 12, 9, 9, 59)),
        local("America/New_York", 2026, 12, 9, 10),
    )
    assert_allowed(ask(LOUISVILLE, "telemarketing", local("America/New_York", 2026, 12, 9, 10)))
    held = ask(MINNEAPOLIS, "telemarketing", local("America/Chicago", 2026, 12, 9, 8, 59))
    assert_held_until(held, local("America/Chicago", 2026, 12, 9, 9))
    assert held.rule.id == "us-mn-automatic-dialing"
    assert_allowed(ask(MINNEAPOLIS, "telemarketing", local("America/Chicago", 2026, 12, 9, 9)))


def test_texas_starts_sundays_at_noon():
    ch = "America/Chicago"
    assert_allowed(ask(HOUSTON, "telemarketing", local(ch, 2026, 12, 12, 9)))
    assert_held_until(
        ask(HOUSTON, "telemarketing", local(ch, 2026, 12, 13, 11, 59)), local(ch, 2026, 12, 13, 12)
    )
    assert_allowed(ask(HOUSTON, "telemarketing", local(ch, 2026, 12, 13, 12)))


def test_a_rule_binds_only_from_its_effective_date():
    ny = "America/New_York"
    assert_allowed(ask(BALTIMORE, "telemarketing", local(ny, 2023, 12, 31, 20, 30)))
    held = ask(BALTIMORE, "telemarketing", local(ny, 2024, 1, 1, 20, 30))
    assert held.rule.id == "us-md-telemarketing"


def test_spring_forward_in_the_callees_zone_opens_at_8_local():
    ny = "America/New_York"
    # 14 March 2027: clocks go from 02:00 EST to 03:00 EDT.
    held = ask(MIAMI, "telemarketing", local(ny, 2027, 3, 13, 20, 0))
    assert held.opening == datetime(2027, 3, 14, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert held.reason.endswith("until Sun 08:00 EDT")
    assert not ask(MIAMI, "telemarketing", datetime(2027, 3, 14, 11, 59, tzinfo=UTC)).allowed
    assert_allowed(ask(MIAMI, "telemarketing", datetime(2027, 3, 14, 12, 0, tzinfo=UTC)))


def test_fall_back_in_the_callees_zone_opens_at_8_local():
    ny = "America/New_York"
    # 7 November 2027: clocks go from 02:00 EDT back to 01:00 EST.
    held = ask(MIAMI, "telemarketing", local(ny, 2027, 11, 6, 20, 0))
    assert held.opening == datetime(2027, 11, 7, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert held.reason.endswith("until Sun 08:00 EST")
    assert not ask(MIAMI, "telemarketing", datetime(2027, 11, 7, 12, 59, tzinfo=UTC)).allowed
    # 20:00 EST that evening is 01:00 UTC: the minute before is allowed, not the minute after.
    assert_allowed(ask(MIAMI, "telemarketing", datetime(2027, 11, 8, 0, 59, tzinfo=UTC)))
    assert not ask(MIAMI, "telemarketing", datetime(2027, 11, 8, 1, 0, tzinfo=UTC)).allowed


def test_telemarketing_rules_do_not_hold_informational_calls():
    ny = "America/New_York"
    assert_allowed(ask(MIAMI, "informational", local(ny, 2026, 12, 9, 20, 30)))
    assert_allowed(ask(BIRMINGHAM, "informational", local("America/Chicago", 2026, 12, 13, 12)))
    held = ask(MIAMI, "informational", local(ny, 2026, 12, 9, 21, 0))
    assert held.rule is None
    assert held.reason == "outside the calling window (08:00–21:00, every day) until Thu 08:00 EST"


def test_an_all_day_business_window_for_reminders_is_kept():
    window = CallingWindow(start_hour=0, end_hour=24)
    assert_allowed(
        ask(MIAMI, "informational", local("America/New_York", 2026, 12, 9, 3), window=window)
    )


def test_a_business_window_narrows_the_rules_but_never_widens_them():
    ny = "America/New_York"
    narrow = CallingWindow(start_hour=9, end_hour=17)
    held = ask(MIAMI, "telemarketing", local(ny, 2026, 12, 9, 17, 0), window=narrow)
    assert_held_until(held, local(ny, 2026, 12, 10, 9))
    assert held.rule is None and "calling window (09:00–17:00" in held.reason
    wide = CallingWindow(start_hour=0, end_hour=24)
    held = ask(MIAMI, "telemarketing", local(ny, 2026, 12, 9, 20, 30), window=wide)
    assert held.rule.id == "us-fl-telemarketing"


def test_rules_for_every_purpose_hold_informational_calls_too():
    held = ask(MINNEAPOLIS, "informational", local("America/Chicago", 2026, 12, 9, 8, 30))
    assert held.rule.id == "us-mn-automatic-dialing"
    held = ask(OKLAHOMA_CITY, "debt_collection", local("America/Chicago", 2026, 12, 9, 8, 30))
    assert held.rule.id == "us-ok-automatic-dialing"


def test_an_address_region_stricter_than_the_numbers_holds_the_call():
    pacific = "America/Los_Angeles"
    at = local(pacific, 2026, 12, 9, 17, 30)  # 20:30 in Miami
    assert_allowed(ask(SAN_FRANCISCO, "telemarketing", at))
    held = ask(SAN_FRANCISCO, "telemarketing", at, region="US-FL")
    assert held.rule.id == "us-fl-telemarketing"
    assert held.reason.startswith("Florida: telemarketing 08:00–20:00")
    # Florida's zones (Eastern and Central) and the number's own: the latest 08:00 is Pacific.
    assert_held_until(held, local(pacific, 2026, 12, 10, 8))
    assert {rule.id for rule in held.rules} >= {
        "us-fl-telemarketing",
        "us-tcpa-telemarketing-hours",
    }


def test_a_number_whose_region_cannot_be_told_gets_every_region_of_its_country():
    held = ask(TOLL_FREE, "telemarketing", local("America/New_York", 2026, 12, 9, 12))
    ids = {rule.id for rule in held.rules}
    assert {"us-fl-telemarketing", "us-al-telemarketing", "us-ky-telemarketing"} <= ids
    assert not held.allowed
    # An address region tells where the callee is: that state's rules and the country's.
    located = ask(
        TOLL_FREE, "telemarketing", local("America/New_York", 2026, 12, 9, 12), region="US-FL"
    )
    assert {rule.id for rule in located.rules} == {
        "us-tcpa-telemarketing-hours",
        "us-fl-telemarketing",
    }


def test_an_address_region_of_the_country_alone_means_anywhere_in_it():
    held = ask(NEW_JERSEY, "telemarketing", local("America/New_York", 2026, 12, 9, 12), region="US")
    assert "us-ky-telemarketing" in {rule.id for rule in held.rules}


def test_a_region_the_rules_do_not_know_is_named_as_a_problem():
    assert region_problem("US-FL") == ""
    assert region_problem("FR") == ""
    assert "ISO 3166-2" in region_problem("Florida")
    assert "not a region" in region_problem("US-ZZ")


def test_canada_allows_telemarketing_until_2130_on_weekdays_and_18_at_weekends():
    tz = "America/Toronto"
    late = CallingWindow(start_hour=0, end_hour=24)
    assert_allowed(ask(TORONTO, "telemarketing", local(tz, 2026, 12, 9, 21, 29), window=late))
    held = ask(TORONTO, "telemarketing", local(tz, 2026, 12, 9, 21, 30), window=late)
    assert_held_until(held, local(tz, 2026, 12, 10, 9))
    assert held.reason.startswith("Canada: telemarketing Mon–Fri 09:00–21:30, Sat–Sun 10:00–18:00")
    assert_held_until(
        ask(TORONTO, "telemarketing", local(tz, 2026, 12, 12, 18)), local(tz, 2026, 12, 13, 10)
    )


def test_the_uk_starts_weekend_calls_at_9():
    ldn = "Europe/London"
    assert_allowed(ask(LONDON, "telemarketing", local(ldn, 2026, 12, 9, 8)))
    assert_held_until(
        ask(LONDON, "telemarketing", local(ldn, 2026, 12, 12, 8, 59)), local(ldn, 2026, 12, 12, 9)
    )


def test_france_allows_telemarketing_on_weekdays_10_to_13_and_14_to_20():
    paris = "Europe/Paris"
    assert_allowed(ask(PARIS, "telemarketing", local(paris, 2026, 12, 9, 12, 59)))
    held = ask(PARIS, "telemarketing", local(paris, 2026, 12, 9, 13, 0))
    assert_held_until(held, local(paris, 2026, 12, 9, 14))
    assert held.reason.endswith("until 14:00 CET")
    assert_held_until(
        ask(PARIS, "telemarketing", local(paris, 2026, 12, 11, 20)), local(paris, 2026, 12, 14, 10)
    )
    # Good Friday is a holiday in Alsace-Moselle only: barred everywhere, the stricter reading.
    good_friday = ask(PARIS, "telemarketing", local(paris, 2027, 3, 26, 11))
    assert "no telemarketing on holidays (Good Friday)" in good_friday.reason
    # A fifth call in 30 days waits until 30 days after the oldest of the last four.
    attempts = [local(paris, 2026, 12, day, 11) for day in (1, 2, 3, 4)]
    capped = ask(PARIS, "telemarketing", local(paris, 2026, 12, 9, 11), attempts=attempts)
    assert capped.opening is None  # 31 December is beyond the 8 days searched
    assert capped.reason.startswith("France: 4 calls in 30 days to this number")
    assert_allowed(ask(PARIS, "telemarketing", local(paris, 2026, 12, 31, 11), attempts=attempts))
    still = ask(PARIS, "telemarketing", local(paris, 2026, 12, 31, 10, 59), attempts=attempts)
    assert not still.allowed


def test_a_decision_with_no_opening_within_8_days_says_so():
    never = CallingWindow(start_hour=8, end_hour=21, days=frozenset({7}))
    held = ask(BIRMINGHAM, "telemarketing", local("America/Chicago", 2026, 12, 9, 12), window=never)
    assert held.opening is None and not held.allowed
    assert "no opening in the next 8 days" in held.reason


def test_bad_questions_are_refused_clearly():
    at = datetime(2026, 12, 9, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown purpose"):
        ask(MIAMI, "sales", at)
    with pytest.raises(ValueError, match="aware"):
        ask(MIAMI, "telemarketing", datetime(2026, 12, 9, 12))
    nothing = ask("not a number", "telemarketing", at)
    assert not nothing.allowed and nothing.opening is None
    assert nothing.reason


def test_attempts_after_the_instant_asked_about_do_not_count():
    ny = "America/New_York"
    at = local(ny, 2026, 12, 9, 12)
    later = [at + timedelta(minutes=m) for m in (1, 2, 3)]
    assert_allowed(ask(MIAMI, "telemarketing", at, attempts=later))
