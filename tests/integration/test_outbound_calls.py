"""An outbound attempt from dispatch to its final status: callbacks, retries and the answer."""

import pytest
from django.db import transaction
from django.utils import timezone

from calls import tasks
from calls.models import CallEvent, CallLog, CallRequest, Campaign
from calls.services.dispatch import business_claim, call_place
from calls.services.enqueue import enqueue_outbound_call
from calls.services.hang_ups import call_hang_up
from calls.services.operator_actions import campaign_set_status, request_retry_now
from calls.services.pauses import business_pause
from calls.services.status import Retry, call_fail, call_sid_store
from calls.twilio_client import ErrorKind, TwilioError
from tests.recipes import callback, make_call, sid, twilio_call

NUMBER = "+14155551234"


@pytest.fixture
def placed(business, fake_twilio):
    """A request whose first attempt Twilio accepted."""
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    return request, CallLog.objects.get(request=request)


def status(call, call_status, sequence, **extra):
    return callback(call.call_sid or extra.pop("CallSid"), call_status, sequence, **extra)


def url(call, what="status"):
    return f"/twilio/calls/{call.public_id}/{what}"


def test_a_completed_call_finishes_its_request_and_queues_lead_and_dispatch(
    placed, twilio_post, queue, django_capture_on_commit_callbacks
):
    request, call = placed
    with django_capture_on_commit_callbacks(execute=True):
        for n, s in enumerate(["initiated", "ringing", "in-progress"]):
            twilio_post(url(call), status(call, s, n))
        response = twilio_post(url(call), status(call, "completed", 3, CallDuration="17"))
    assert response.status_code == 204
    call.refresh_from_db()
    request.refresh_from_db()
    assert (call.status, call.duration_seconds, call.ended_by) == ("completed", 17, "twilio")
    assert call.answered_at is not None
    assert request.status == "done"
    # The freed slot's refill first, then the lead.
    assert queue() == [
        ("calls.tasks.dispatch", (call.business_id,)),
        ("leads.tasks.create_lead_from_call", (call.call_sid,)),
    ]


def test_a_busy_request_is_retried_after_its_backoff_and_stops_after_max_attempts(
    placed, twilio_post, fake_twilio
):
    request, call = placed
    for attempt in range(1, 4):
        twilio_post(url(call), status(call, "busy", 5, SipResponseCode="486"))
        request.refresh_from_db()
        if attempt == 3:
            break
        assert (request.status, request.attempts) == ("queued", attempt)
        delay = (request.next_attempt_at - timezone.now()).total_seconds()
        base = 300 * 2 ** (attempt - 1)
        assert base * 0.8 - 2 <= delay <= base * 1.2
        tasks.dispatch(request.business_id)
        assert len(fake_twilio.created) == attempt  # not yet due
        # The backoff has passed.
        CallRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
        tasks.dispatch(request.business_id)
        assert len(fake_twilio.created) == attempt + 1
        call = CallLog.objects.get(request=request, status="queued")
    assert (request.status, request.attempts) == ("failed", 3)
    assert "Gave up after 3 attempts" in request.last_error
    assert CallLog.objects.filter(request=request, status="busy").count() == 3


def test_a_retry_due_after_its_campaign_was_canceled_does_not_dial(
    business, fake_twilio, twilio_post
):
    campaign = Campaign.objects.create(business=business, name="spring")
    request = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    twilio_post(url(call), status(call, "no-answer", 4))
    request.refresh_from_db()
    assert request.status == "queued"
    campaign_set_status(campaign_id=campaign.pk, status="canceled")
    CallRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert request.status == "canceled"
    assert len(fake_twilio.created) == 1


def test_a_call_ending_while_its_campaign_is_canceled_is_not_retried(placed, twilio_post, business):
    request, call = placed
    campaign = Campaign.objects.create(business=business, name="c", status="canceled")
    CallRequest.objects.filter(pk=request.pk).update(campaign=campaign)
    twilio_post(url(call), status(call, "busy", 4))
    request.refresh_from_db()
    assert request.status == "failed"
    assert "campaign is canceled" in request.last_error


def test_a_callback_before_the_create_response_is_applied_and_keeps_its_status(
    business, fake_twilio, twilio_post
):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    (call_id,) = business_claim(business_id=business.pk)
    call = CallLog.objects.get(pk=call_id)
    twilio_sid = sid("e")
    # Twilio calls back (busy) before its answer to the create request reaches the worker.
    response = twilio_post(url(call), status(call, "busy", 2, CallSid=twilio_sid))
    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.call_sid, call.status) == (twilio_sid, "busy")
    call_sid_store(call=call, sid=twilio_sid)
    call.refresh_from_db()
    assert (call.call_sid, call.status) == (twilio_sid, "busy")


def test_the_create_response_does_not_overwrite_a_sid_or_move_status_back(placed):
    _, call = placed
    CallLog.objects.filter(pk=call.pk).update(status="ringing")
    call_sid_store(call=call, sid=sid("d"))
    call.refresh_from_db()
    assert call.status == "ringing"
    assert call.call_sid == "CA" + f"{1:032x}"


def test_a_callback_for_a_call_the_service_had_failed_records_the_sid_and_hangs_up(
    business, twilio_post, queue, django_capture_on_commit_callbacks
):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    (call_id,) = business_claim(business_id=business.pk)
    call = CallLog.objects.get(pk=call_id)
    CallLog.objects.filter(pk=call_id).update(
        status="failed", ended_by="cleanup", error_code="not-found"
    )
    twilio_sid = sid("7")
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(url(call), status(call, "in-progress", 3, CallSid=twilio_sid))
    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.call_sid, call.status) == (twilio_sid, "failed")
    assert queue() == [("calls.tasks.hang_up_call", (call.pk,))]
    assert CallEvent.objects.get(call=call).applied is False


def test_a_callback_carrying_another_sid_is_recorded_but_not_applied(placed, twilio_post):
    _, call = placed
    params = status(call, "completed", 3)
    params["CallSid"] = sid("8")
    assert twilio_post(url(call), params).status_code == 204
    call.refresh_from_db()
    assert call.status == "queued"
    assert CallEvent.objects.get().applied is False


def test_an_unknown_public_id_gets_404_not_500(twilio_post, db):
    path = "/twilio/calls/00000000-0000-0000-0000-000000000000/status"
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"}
    assert twilio_post(path, params).status_code == 404


def test_the_answer_url_plays_the_campaign_script(business, fake_twilio, twilio_post):
    campaign = Campaign.objects.create(
        business=business, name="spring", say_text="Spring sale!", voice="Polly.Amy"
    )
    enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    response = twilio_post(url(call, "answer"), {"CallSid": call.call_sid})
    assert response.status_code == 200
    assert response.content == (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<Response><Say voice="Polly.Amy">Spring sale!</Say></Response>'
    )
    assert twilio_post(url(call, "answer"), {"CallSid": "x"}, signature="bad").status_code == 403


def test_the_answer_url_without_a_campaign_greets_from_the_business(placed, twilio_post):
    _, call = placed
    response = twilio_post(url(call, "answer"), {"CallSid": call.call_sid})
    assert b"<Say>Hello, this is a call from Acme Plumbing." in response.content


def test_an_operator_hang_up_of_an_unsent_call_cancels_it(business, queue):
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    (call_id,) = business_claim(business_id=business.pk)
    call_hang_up(call_id=call_id)
    request.refresh_from_db()
    call = CallLog.objects.get(pk=call_id)
    assert (call.status, call.ended_by) == ("canceled", "operator")
    assert request.status == "canceled"


def test_an_operator_hang_up_of_a_placed_call_asks_twilio_and_settles_what_it_answers(
    placed, fake_twilio
):
    request, call = placed
    CallLog.objects.filter(pk=call.pk).update(status="in-progress")
    call_hang_up(call_id=call.pk)
    assert fake_twilio.hung_up == [call.call_sid]
    call.refresh_from_db()
    request.refresh_from_db()
    assert (call.status, call.ended_by, request.status) == ("completed", "reconcile", "done")
    assert CallEvent.objects.get(call=call).source == "reconcile"


def test_a_hang_up_twilio_took_but_has_not_finished_waits_for_its_callback(placed, fake_twilio):
    _, call = placed
    fake_twilio.hang_up_status = "in-progress"
    CallLog.objects.filter(pk=call.pk).update(status="in-progress")
    call_hang_up(call_id=call.pk)
    call.refresh_from_db()
    assert call.status == "in-progress"  # its callback, or the cleanup's next ask, settles it


def test_a_hang_up_of_a_call_twilio_already_ended_settles_it_as_twilio_knows_it(
    placed, fake_twilio
):
    request, call = placed
    fake_twilio.hang_up_error = TwilioError(
        kind=ErrorKind.REFUSED_BUSINESS, code="21220", message="Call is not in-progress."
    )
    fake_twilio.calls[call.call_sid] = twilio_call(call.call_sid, "no-answer")
    call_hang_up(call_id=call.pk)
    call.refresh_from_db()
    assert (call.status, call.ended_by) == ("no-answer", "reconcile")
    assert fake_twilio.fetched == [call.call_sid]


def test_a_call_canceled_while_its_create_is_in_flight_is_hung_up_once_its_sid_is_known(
    business, fake_twilio, queue, django_capture_on_commit_callbacks
):
    campaign = Campaign.objects.create(business=business, name="spring")
    request = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    (call_id,) = business_claim(business_id=business.pk)
    call = CallLog.objects.get(pk=call_id)
    CallLog.objects.filter(pk=call_id).update(dial_started_at=timezone.now())  # create in flight
    with django_capture_on_commit_callbacks(execute=True):
        campaign_set_status(campaign_id=campaign.pk, status="canceled", hang_up=True)
    assert ("calls.tasks.hang_up_call", (call_id,)) in queue()
    call_hang_up(call_id=call_id)  # no SID yet: nothing to hang up, nothing canceled
    call.refresh_from_db()
    assert (call.status, fake_twilio.hung_up) == ("pending", [])
    assert call.hang_up_requested_at is not None
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        call_sid_store(call=call, sid=sid("c"))  # the create returns
    assert queue().count(("calls.tasks.hang_up_call", (call_id,))) == 2
    fake_twilio.hang_up_status = "canceled"  # hung up before it was answered
    call_hang_up(call_id=call_id)
    assert fake_twilio.hung_up == [sid("c")]
    request.refresh_from_db()
    assert request.status == "canceled"


def test_the_answer_url_hangs_up_a_call_that_should_end(business, fake_twilio, twilio_post):
    campaign = Campaign.objects.create(business=business, name="spring")
    enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    campaign_set_status(campaign_id=campaign.pk, status="canceled")
    response = twilio_post(url(call, "answer"), {"CallSid": call.call_sid})
    assert response.status_code == 200
    assert b"<Hangup />" in response.content and b"<Say>" not in response.content
    Campaign.objects.filter(pk=campaign.pk).update(status="running")
    CallLog.objects.filter(pk=call.pk).update(status="completed")
    response = twilio_post(url(call, "answer"), {"CallSid": call.call_sid})
    assert b"<Hangup />" in response.content


def test_retry_now_requeues_a_failed_request_with_one_more_attempt(
    placed, twilio_post, fake_twilio
):
    request, call = placed
    CallRequest.objects.filter(pk=request.pk).update(max_attempts=1)
    twilio_post(url(call), status(call, "no-answer", 4))
    request.refresh_from_db()
    assert request.status == "failed"
    assert request_retry_now(request_id=request.pk).changed == 1
    request.refresh_from_db()
    assert (request.status, request.max_attempts) == ("queued", 2)
    tasks.dispatch(request.business_id)
    assert len(fake_twilio.created) == 2


def test_an_unsent_call_of_a_paused_business_is_released_not_counted(business, fake_twilio):
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    (call_id,) = business_claim(business_id=business.pk)
    business_pause(business_id=business.pk, reason="manual")
    call_place(call_id=call_id)
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 0)
    assert request.next_attempt_at <= timezone.now()
    assert fake_twilio.created == []


def test_a_create_error_is_recorded_with_twilios_message(business, fake_twilio):
    fake_twilio.create_error = TwilioError(
        kind=ErrorKind.REFUSED_NUMBER, code="21217", message="Phone number does not appear valid"
    )
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    assert call.error_code == "21217"
    assert "Phone number does not appear valid" in call.error_message


def test_retry_now_in_a_finished_campaign_runs_the_campaign_again(business, fake_twilio):
    campaign = Campaign.objects.create(business=business, name="spring")
    request = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    with transaction.atomic():
        call_fail(call=call, code="x", message="gone", ended_by="operator", retry=Retry.NEVER)
    tasks.dispatch(business.pk)
    campaign.refresh_from_db()
    assert campaign.status == "done"
    assert request_retry_now(request_id=request.pk).changed == 1
    campaign.refresh_from_db()
    assert (campaign.status, campaign.ended_at) == ("running", None)
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 2


def test_retry_now_in_a_canceled_campaign_is_refused(business, fake_twilio):
    campaign = Campaign.objects.create(business=business, name="spring")
    request = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    campaign_set_status(campaign_id=campaign.pk, status="canceled")
    assert request_retry_now(request_id=request.pk).changed == 0
    request.refresh_from_db()
    assert request.status == "canceled"


def test_a_callback_carrying_a_sid_another_call_holds_is_not_a_500(
    business, fake_twilio, twilio_post
):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    (call_id,) = business_claim(business_id=business.pk)
    call = CallLog.objects.get(pk=call_id)
    other = make_call(business, number="+14155550999", call_sid=sid("3"), status="completed")
    response = twilio_post(url(call), status(call, "ringing", 1, CallSid=other.call_sid))
    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.call_sid, call.status) == (None, "pending")
    assert CallEvent.objects.get(call=call).applied is False
