"""A cancel is recorded on the request and honoured by every path: a claim handed back, a call
not yet sent, a call that ends however it ends. A canceled request is never dialed after its
cancel, and it reads canceled, not failed or done."""

import pytest

from calls import tasks
from calls.models import CallLog, CallRequest
from calls.services.callbacks import call_callback_record
from calls.services.dispatch import business_claim
from calls.services.operator_actions import request_cancel, request_retry_now
from calls.services.pauses import business_pause
from calls.services.placing import Placed, call_claim_release, call_place
from calls.services.status import StatusReport
from tests.recipes import make_call, make_request, sid

A = "+14155550123"


@pytest.fixture
def claimed(business):
    """A request claimed by a dispatch whose create has not been sent yet."""
    request = make_request(business, number=A)
    (call_id,) = business_claim(business_id=business.pk)
    return request, CallLog.objects.get(pk=call_id)


def test_a_claim_handed_back_after_its_request_was_canceled_is_never_dialed(
    business, claimed, fake_twilio
):
    """Scenario 5: the dispatch ran out of budget (or was paused) after the cancel."""
    request, call = claimed
    request_cancel(request_id=request.pk)

    assert call_claim_release(call_id=call.pk) is True
    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("canceled", 0)
    assert request.last_error == "Canceled by request before the call was placed."
    assert fake_twilio.created == []
    assert not CallLog.objects.filter(pk=call.pk).exists()


def test_a_claim_found_paused_after_its_request_was_canceled_ends_canceled(
    business, claimed, fake_twilio
):
    request, call = claimed
    request_cancel(request_id=request.pk)
    business_pause(business_id=business.pk, reason="Twilio refused the caller ID.")

    assert call_place(call_id=call.pk) is Placed.RELEASED

    request.refresh_from_db()
    assert request.status == "canceled"
    assert fake_twilio.created == []


def test_a_claim_whose_request_was_canceled_is_not_sent(business, claimed, fake_twilio):
    request, call = claimed
    request_cancel(request_id=request.pk)

    call_place(call_id=call.pk)

    request.refresh_from_db()
    assert fake_twilio.created == []
    assert request.status == "canceled"
    assert request.attempts == 0  # nothing was placed


def test_a_claim_never_takes_a_request_without_attempts_left(business, fake_twilio):
    request = make_request(business, number=A, attempts=3, max_attempts=3)

    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert fake_twilio.created == []
    assert (request.status, request.last_error) == ("failed", "Gave up after 3 attempts.")


@pytest.mark.parametrize("ended", ["completed", "busy", "no-answer", "failed"])
def test_canceling_a_live_call_settles_its_request_canceled_however_the_call_ends(
    business, fake_twilio, ended
):
    """Scenario 12: it read "failed: Gave up after 1 attempt" or "done" instead."""
    request = make_request(business, number=A, status="active", attempts=1)
    call = make_call(business, number=A, request=request, call_sid=sid(1), status="in-progress")

    request_cancel(request_id=request.pk)
    call_callback_record(
        call=call,
        sid=sid(1),
        report=StatusReport(status=ended, sequence_number=4),
        sip_response_code=200,
        params={},
    )

    request.refresh_from_db()
    assert request.status == "canceled"
    assert request.last_error == f"Canceled by request; the call ended {ended.replace('-', ' ')}."
    assert request.max_attempts == 3  # recorded as a cancel, not as attempts taken away
    tasks.dispatch(business.pk)
    assert fake_twilio.created == []


def test_retry_now_after_a_cancel_dials_again(business, fake_twilio):
    request = make_request(business, number=A)
    request_cancel(request_id=request.pk)
    request.refresh_from_db()
    assert request.cancel_requested_at is not None

    request_retry_now(request_id=request.pk)
    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert request.cancel_requested_at is None
    assert request.status == "active"
    assert [c["to"] for c in fake_twilio.created] == [A]
    assert CallRequest.objects.count() == 1
