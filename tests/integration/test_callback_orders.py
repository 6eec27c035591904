"""Twilio does not order its status callbacks and may send one twice: whatever order and
duplication a call's callbacks arrive in, the call ends in the state the in-order run gives,
facts included (Hypothesis generates the orders)."""

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import CallLog
from calls.services.callbacks import call_callback_record
from calls.services.status import StatusReport
from tests.recipes import make_call, make_request, sid

SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@st.composite
def calls(draw):
    """One call's callbacks in Twilio's order: (status, extra facts) each."""
    outcome = draw(st.sampled_from(["completed", "busy", "no-answer", "failed"]))
    answered_by = draw(st.sampled_from(["", "human", "machine_start"]))
    if outcome == "completed":
        duration = draw(st.sampled_from([1, 17, 3600]))
        reports = [
            ("initiated", {}),
            ("ringing", {}),
            ("in-progress", {"answered_by": answered_by}),
            ("completed", {"duration": duration, "sip": 200, "answered_by": answered_by}),
        ]
    elif outcome == "failed":
        error = draw(st.sampled_from([None, ("31005", "Connection error")]))
        facts = {"duration": 0, "sip": draw(st.sampled_from([404, 480, 503, 603]))}
        if error:
            facts.update(error_code=error[0], error_message=error[1])
        reports = [("initiated", {}), ("failed", facts)]
    else:
        sip = 486 if outcome == "busy" else 487
        reports = [("initiated", {}), ("ringing", {}), (outcome, {"duration": 0, "sip": sip})]
    with_sequence = draw(st.booleans())
    return [
        StatusReport(
            status=status,
            sequence_number=n if with_sequence else None,
            duration_seconds=facts.get("duration"),
            answered_by=facts.get("answered_by", ""),
            error_code=facts.get("error_code", ""),
            error_message=facts.get("error_message", ""),
            sip_response_code=facts.get("sip"),
        )
        for n, (status, facts) in enumerate(reports)
    ]


@st.composite
def arrivals(draw):
    """The callbacks of one call in any order, some of them twice."""
    reports = draw(calls())
    order = draw(st.permutations(reports))
    for _ in range(draw(st.integers(0, len(reports)))):
        again = draw(st.sampled_from(reports))
        order.insert(draw(st.integers(0, len(order))), again)
    return reports, order


# What must end the same whatever the order: the call's facts and its request's outcome.
FACTS = (
    "status", "answered_at", "answered_by", "duration_seconds", "error_code", "error_message",
    "sip_response_code", "ended_at", "last_sequence_number",
)  # fmt: skip
REQUEST_FACTS = ("request__status", "request__attempts", "request__last_error")


def placed_call(business, number) -> CallLog:
    """A call Twilio took (queued, with a SID) for an active request on its first attempt."""
    request = make_request(business, number=number, status="active", attempts=1)
    call = make_call(business, number=number, request=request, call_sid=sid(int(number[-6:])))
    CallLog.objects.filter(pk=call.pk).update(status="queued")
    call.status = "queued"
    return call


def state_after(call: CallLog, reports) -> tuple:
    """The call's and its request's state once `reports` arrived in that order; the rows are
    put back as they were (the caller's savepoint is rolled back)."""
    with transaction.atomic():
        for report in reports:
            call_callback_record(
                call=CallLog(
                    pk=call.pk,
                    business_id=call.business_id,
                    request_id=call.request_id,
                    direction=call.direction,
                    call_sid=call.call_sid,
                    status=call.status,
                ),
                sid=call.call_sid,
                report=report,
                sip_response_code=report.sip_response_code,
                params={},
            )
        (after,) = CallLog.objects.filter(pk=call.pk).values(*FACTS, *REQUEST_FACTS)
        transaction.set_rollback(True)
    answered_at, ended_at = after.pop("answered_at"), after.pop("ended_at")
    assert answered_at is None or answered_at <= ended_at <= timezone.now()
    return (answered_at is not None, ended_at is not None, *after.values())


def check_every_order_ends_as_in_order(business, examples: int):
    call = placed_call(business, "+14155559001")
    in_order_states = {}

    @settings(max_examples=examples, **SETTINGS)
    @given(arrivals())
    def every_order(case):
        reports, order = case
        key = tuple(reports)
        if key not in in_order_states:
            in_order_states[key] = state_after(call, reports)
        assert state_after(call, order) == in_order_states[key]

    every_order()
    return in_order_states


def test_every_order_and_duplication_of_callbacks_ends_as_the_in_order_run(business):
    states = check_every_order_ends_as_in_order(business, examples=300)
    # What the in-order runs establish, so the property cannot hold vacuously.
    names = ("answered", "ended", *[f for f in FACTS if not f.endswith("ed_at")], *REQUEST_FACTS)
    states = [dict(zip(names, state, strict=True)) for state in states.values()]
    by_status = {
        state["status"]: state for state in states if state["answered_by"] != "machine_start"
    }
    completed, busy = by_status["completed"], by_status["busy"]
    assert completed["answered"] and completed["ended"]
    assert completed["request__status"] == "done"
    # A machine reached is tried again (tests/integration/test_machine_detection.py).
    machines = [s for s in states if s["answered_by"] == "machine_start"]
    assert {s["request__status"] for s in machines} <= {"queued"}
    assert (busy["answered"], busy["error_message"], busy["request__status"]) == (
        False, "The line was busy (SIP 486).", "queued",
    )  # fmt: skip
    assert {s["error_code"] for s in states if s["status"] == "failed"} == {"", "31005"}


# Once per CI run (on PostgreSQL, the production database); the 300 above run on both.
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)  # about a minute of one core a part; more when the machine is shared
@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_ten_thousand_orders_of_callbacks_end_as_the_in_order_run(business, part):
    """10,000 orders in all, in four parts so the suite's workers share them (one part took a
    worker for 5.5 minutes of a CI run); each part draws its own random examples."""
    check_every_order_ends_as_in_order(business, examples=2_500)
