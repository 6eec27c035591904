"""A report that comes too late to move a call's status still fills the facts the call is
missing, and never replaces one already set; an unanswered call gets a reason from its SIP code."""

import functools

import pytest
from django.db import transaction

from calls.models import CallEvent, CallLog
from calls.services.callbacks import call_callback_record
from calls.services.status import StatusReport, call_fail
from tests.racing import race
from tests.recipes import callback as callback_for
from tests.recipes import make_call, make_request, sid

SID = sid("b")
URL = "/twilio/voice/status"
callback = functools.partial(callback_for, SID)


@pytest.fixture
def call(business):
    request = make_request(business, status="active", attempts=1)
    return make_call(business, call_sid=SID, status="queued", request=request)


def test_an_answer_reported_after_the_end_fills_the_answer_time(twilio_post, call):
    twilio_post(URL, callback("completed", 3, CallDuration="17", SipResponseCode="200"))
    twilio_post(URL, callback("in-progress", 2, AnsweredBy="human"))
    call.refresh_from_db()
    assert (call.status, call.last_sequence_number) == ("completed", 3)
    assert call.answered_at is not None and call.answered_at <= call.ended_at
    assert (call.answered_by, call.duration_seconds, call.sip_response_code) == ("human", 17, 200)
    assert list(CallEvent.objects.values_list("applied", flat=True)) == [True, False]


def test_a_machine_verdict_reported_after_the_end_does_not_contradict_the_settled_request(
    twilio_post, call
):
    """The request was settled for a person when the call completed (see the machine
    verdict's own rule in calls/services/machines.py): a late machine verdict is kept in the
    trail, not on the call."""
    twilio_post(URL, callback("completed", 3, CallDuration="17"))
    twilio_post(URL, callback("in-progress", 2, AnsweredBy="machine_start"))
    call.refresh_from_db()
    call.request.refresh_from_db()
    assert (call.answered_by, call.request.status) == ("", "done")
    assert call.events.filter(applied=False).get().params["AnsweredBy"] == "machine_start"


def test_a_completed_call_whose_answer_report_never_came_is_known_to_be_answered(twilio_post, call):
    twilio_post(URL, callback("completed", 3, CallDuration="17"))
    call.refresh_from_db()
    assert call.answered_at is not None


def test_a_late_report_never_replaces_a_fact_already_set(twilio_post, call):
    twilio_post(URL, callback("in-progress", 2, AnsweredBy="human"))
    call.refresh_from_db()
    answered_at = call.answered_at
    twilio_post(URL, callback("completed", 4, CallDuration="30", SipResponseCode="200"))
    # A stale duplicate with other facts changes nothing that is set.
    twilio_post(URL, callback("in-progress", 1, AnsweredBy="machine_start"))
    twilio_post(URL, callback("completed", 3, CallDuration="99", SipResponseCode="500"))
    call.refresh_from_db()
    assert (call.answered_at, call.answered_by) == (answered_at, "human")
    assert (call.duration_seconds, call.sip_response_code) == (30, 200)


@pytest.mark.parametrize(
    ("status", "sip", "reason"),
    [
        ("failed", "404", "The number is not in service (SIP 404)."),
        ("failed", "480", "The callee is unavailable (SIP 480)."),
        ("busy", "486", "The line was busy (SIP 486)."),
        ("failed", "603", "The callee declined the call (SIP 603)."),
        ("failed", "502", "The carrier failed to connect the call (SIP 502)."),
    ],
)
def test_an_unanswered_call_without_an_error_code_gets_its_reason_from_sip(
    twilio_post, call, status, sip, reason
):
    twilio_post(URL, callback(status, 2, SipResponseCode=sip, CallDuration="0"))
    call.refresh_from_db()
    call.request.refresh_from_db()
    assert (call.error_code, call.error_message, call.sip_response_code) == ("", reason, int(sip))
    assert call.request.last_error.startswith(reason)


def test_twilios_error_code_wins_over_a_reason_read_from_sip(twilio_post, call):
    twilio_post(URL, callback("failed", 2, SipResponseCode="404"))
    twilio_post(
        URL, callback("failed", 2, SipResponseCode="404", ErrorCode="32009", ErrorMessage="x")
    )
    call.refresh_from_db()
    assert (call.error_code, call.error_message) == ("32009", "x")


def test_what_the_create_said_stays_when_the_callback_gives_no_error(twilio_post, call):
    CallLog.objects.filter(pk=call.pk).update(error_code="20500", error_message="create: 500")
    twilio_post(URL, callback("busy", 2, SipResponseCode="486"))
    call.refresh_from_db()
    assert (call.status, call.error_code, call.error_message) == ("busy", "20500", "create: 500")


def test_the_services_own_late_failure_does_not_land_on_a_call_that_moved_on(call):
    CallLog.objects.filter(pk=call.pk).update(status="completed")
    with transaction.atomic():
        assert not call_fail(call=call, code="unreachable", message="x", ended_by="reconcile")
    call.refresh_from_db()
    assert (call.status, call.error_code, call.error_message) == ("completed", "", "")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_callbacks_racing_in_any_order_end_with_every_fact(business):
    for attempt in range(5):
        request = make_request(business, number=f"+1415555800{attempt}", status="active")
        call = make_call(
            business, number=f"+1415555800{attempt}", call_sid=sid(attempt + 1), request=request,
            status="queued",
        )  # fmt: skip
        reports = [
            StatusReport("ringing", 1),
            StatusReport("in-progress", 2, answered_by="human"),
            StatusReport("completed", 3, duration_seconds=17, sip_response_code=200),
        ]
        race(*[
            functools.partial(
                call_callback_record, call=CallLog.objects.get(pk=call.pk), sid=call.call_sid,
                report=report, sip_response_code=report.sip_response_code, params={},
            )
            for report in reports
        ])  # fmt: skip
        call.refresh_from_db()
        assert (call.status, call.answered_by, call.duration_seconds) == ("completed", "human", 17)
        assert call.answered_at is not None and call.sip_response_code == 200
