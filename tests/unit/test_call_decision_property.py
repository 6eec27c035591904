"""A property of call_decision over generated numbers, purposes, address regions, business
windows, attempt histories and instants: a call is never allowed at an instant any applicable
rule forbids, and its opening is allowed by all and is the earliest such, checked against a
minute-by-minute search over the next 8 days that reads each rule plainly (`allows`), not
through the spans the decision intersects. Every generated time is on a whole minute, so the
minutes are every instant that matters."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compliance.rules import call_decision, callee_jurisdictions
from compliance.rules.decision import _constraints
from compliance.windows import HORIZON, CallingWindow

NUMBERS = [
    "+13055550123",  # Florida
    "+18505550123",  # Florida, panhandle
    "+12055550123",  # Alabama
    "+15045550123",  # Louisiana
    "+16015550123",  # Mississippi (standard time all year)
    "+15025550123",  # Kentucky
    "+16125550123",  # Minnesota
    "+14055550123",  # Oklahoma
    "+14105550123",  # Maryland
    "+17135550123",  # Texas
    "+14015550123",  # Rhode Island
    "+16055550123",  # South Dakota
    "+12155550123",  # Pennsylvania
    "+14155550123",  # California: the federal floor
    "+19075550123",  # Alaska: two zones
    "+18005550123",  # toll-free: anywhere in the country
    "+14165550123",  # Ontario
    "+442079460123",  # London
    "+33612345678",  # France
]
REGIONS = [None, None, "US-FL", "US-AL", "US-TX", "US-AK", "US", "CA-ON", "FR", "GB", "US-ZZ"]
START = datetime(2027, 1, 1, tzinfo=UTC)


@st.composite
def questions(draw):
    at = START + timedelta(minutes=draw(st.integers(0, 2 * 366 * 24 * 60)))
    minutes_before = st.integers(0, 10 * 24 * 60)
    window = None
    if draw(st.booleans()):
        start = draw(st.integers(0, 23))
        window = CallingWindow(
            start_hour=start,
            end_hour=draw(st.integers(start + 1, 24)),
            days=frozenset(draw(st.sets(st.integers(1, 7), min_size=1))),
        )
    return {
        "number": draw(st.sampled_from(NUMBERS)),
        "purpose": draw(st.sampled_from(["telemarketing", "informational", "debt_collection"])),
        "at": at,
        "region": draw(st.sampled_from(REGIONS)),
        "window": window,
        "attempts": [at - timedelta(minutes=m) for m in draw(st.lists(minutes_before, max_size=9))],
        "conversations": [
            at - timedelta(minutes=m) for m in draw(st.lists(minutes_before, max_size=2))
        ],
    }


def plainly_allowed(question):
    """Each rule's plain reading at one instant, for the same question."""
    jurisdictions = callee_jurisdictions(question["number"], question["region"])
    constraints, _ = _constraints(
        jurisdictions,
        question["purpose"],
        question["at"],
        question["window"] or CallingWindow(),
        question["attempts"],
        question["conversations"],
    )
    return lambda instant: all(constraint.allows(instant) for constraint in constraints)


def check(question):
    decision = call_decision(**question)
    allowed = plainly_allowed(question)
    at = question["at"]
    if decision.allowed:
        assert allowed(at)
        assert decision.opening == at
        return
    assert not allowed(at), decision
    assert decision.reason
    end = decision.opening if decision.opening is not None else at + HORIZON
    minute = at
    while minute < end:
        assert not allowed(minute), f"{minute} is allowed by every rule, before {decision}"
        minute += timedelta(minutes=1)
    if decision.opening is not None:
        assert at < decision.opening < at + HORIZON
        assert allowed(decision.opening), decision


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_a_call_is_allowed_only_when_every_rule_allows_and_opens_at_the_earliest_such_minute(
    question,
):
    check(question)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_the_decision_property_holds_over_many_more_questions(question):
    check(question)
