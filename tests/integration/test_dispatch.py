from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from calls import tasks
from calls.models import Business, CallLog, CallRequest, Campaign, DialingControl
from calls.services.dispatch import business_claim, call_place
from calls.services.enqueue import enqueue_outbound_call
from calls.services.operator_actions import campaign_set_status
from calls.services.pauses import business_pause, business_resume
from calls.twilio_client import ErrorKind, TwilioError


def enqueue(business, *numbers, campaign=None):
    return [
        enqueue_outbound_call(business=business, to_number=n, campaign=campaign) for n in numbers
    ]


NUMBERS = [f"+1415555{n:04d}" for n in range(1000, 1010)]


def test_it_places_calls_up_to_the_business_cap(business, fake_twilio, settings):
    enqueue(business, *NUMBERS[:5])
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == NUMBERS[:3]
    created = fake_twilio.created[0]
    call = CallLog.objects.get(to_number=NUMBERS[0])
    assert created["from_"] == business.phone_number
    assert (
        created["status_callback"] == f"http://127.0.0.1:8000/twilio/calls/{call.public_id}/status"
    )
    assert created["url"] == f"http://127.0.0.1:8000/twilio/calls/{call.public_id}/answer"
    assert (created["timeout"], created["time_limit"]) == (30, 3600)
    assert call.status == "queued"
    assert call.call_sid == "CA" + f"{1:032x}"
    assert call.dial_started_at is not None
    statuses = dict(CallRequest.objects.values_list("to_number", "status"))
    assert [statuses[n] for n in NUMBERS[:5]] == ["active"] * 3 + ["queued"] * 2
    assert CallRequest.objects.get(to_number=NUMBERS[0]).attempts == 1


def test_a_second_dispatch_places_nothing_while_the_slots_are_full(business, fake_twilio):
    enqueue(business, *NUMBERS[:5])
    tasks.dispatch(business.pk)
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 3


def test_a_request_not_yet_due_is_not_dialed(business, fake_twilio):
    (request,) = enqueue(business, NUMBERS[0])
    CallRequest.objects.filter(pk=request.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    tasks.dispatch(business.pk)
    assert fake_twilio.created == []


def test_a_number_with_a_live_call_is_not_dialed_again(business, fake_twilio):
    first = baker.make(Campaign, business=business, name="a")
    second = baker.make(Campaign, business=business, name="b")
    enqueue(business, NUMBERS[0], campaign=first)
    enqueue(business, NUMBERS[0], campaign=second)
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [NUMBERS[0]]
    assert CallRequest.objects.filter(status="queued").count() == 1


def test_campaign_concurrency_and_state_limit_dialing(business, fake_twilio):
    business.max_concurrent_calls = 5
    business.save()
    narrow = baker.make(Campaign, business=business, name="narrow", concurrency=1)
    paused = baker.make(Campaign, business=business, name="paused", status="paused")
    enqueue(business, *NUMBERS[:3], campaign=narrow)
    enqueue(business, *NUMBERS[3:5], campaign=paused)
    enqueue(business, NUMBERS[5])
    tasks.dispatch(business.pk)
    assert sorted(c["to"] for c in fake_twilio.created) == [NUMBERS[0], NUMBERS[5]]


def pause_globally():
    DialingControl.objects.update_or_create(pk=1, defaults={"paused": True, "reason": "incident"})


@pytest.mark.parametrize(
    "pause",
    [
        pytest.param(
            lambda b: Business.objects.filter(pk=b.pk).update(is_active=False), id="inactive"
        ),
        pytest.param(lambda b: business_pause(business_id=b.pk, reason="21210"), id="paused"),
        pytest.param(lambda b: pause_globally(), id="all dialing paused"),
    ],
)
def test_a_business_that_may_not_dial_claims_nothing(
    business, fake_twilio, queue, django_capture_on_commit_callbacks, pause
):
    (request,) = enqueue(business, NUMBERS[0])
    pause(business)
    queue()  # forget the enqueue's own nudge
    with django_capture_on_commit_callbacks(execute=True):
        assert business_claim(business_id=business.pk) == []
        tasks.dispatch(business.pk)
    assert fake_twilio.created == []
    assert not CallLog.objects.exists()
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 0)
    assert queue() == []  # it does not queue itself again to find the same pause


def test_the_account_wide_cap_holds_across_businesses(business, fake_twilio, settings):
    settings.TWILIO_MAX_CONCURRENT_CALLS = 4
    other = baker.make("calls.Business", phone_number="+14155550200", max_concurrent_calls=3)
    enqueue(business, *NUMBERS[:3])
    enqueue(other, *NUMBERS[3:6])
    tasks.dispatch(business.pk)
    tasks.dispatch(other.pk)
    assert len(fake_twilio.created) == 4
    assert [c["from_"] for c in fake_twilio.created].count(other.phone_number) == 1


def test_a_call_the_cleanup_settled_is_never_sent(business, fake_twilio):
    enqueue(business, NUMBERS[0])
    (call_id,) = business_claim(business_id=business.pk)
    CallLog.objects.filter(pk=call_id).update(status="failed", error_code="never-sent")
    call_place(call_id=call_id)
    assert fake_twilio.created == []


def test_a_campaign_with_nothing_left_becomes_done(business, fake_twilio):
    campaign = baker.make(Campaign, business=business, name="spring")
    (request,) = enqueue(business, NUMBERS[0], campaign=campaign)
    tasks.dispatch(business.pk)
    CallRequest.objects.filter(pk=request.pk).update(status="done")
    CallLog.objects.update(status="completed")
    tasks.dispatch(business.pk)
    campaign.refresh_from_db()
    assert campaign.status == "done"
    assert campaign.ended_at is not None


def test_a_stopping_campaign_ends_when_its_live_calls_end(business, fake_twilio):
    campaign = baker.make(Campaign, business=business, name="spring", concurrency=1)
    first, second = enqueue(business, NUMBERS[0], NUMBERS[1], campaign=campaign)
    tasks.dispatch(business.pk)
    campaign_set_status(campaign_id=campaign.pk, status="stopping")
    tasks.dispatch(business.pk)
    campaign.refresh_from_db()
    assert campaign.status == "stopping"
    CallRequest.objects.filter(pk=first.pk).update(status="done")
    CallLog.objects.update(status="completed")
    tasks.dispatch(business.pk)
    campaign.refresh_from_db()
    second.refresh_from_db()
    assert campaign.status == "done"
    assert (second.status, second.last_error) == ("canceled", "The campaign was stopped.")
    assert len(fake_twilio.created) == 1


# --- create outcomes ---------------------------------------------------------------------------


def twilio_error(kind, code):
    return TwilioError(kind=kind, code=code, message=f"error {code}")


def test_a_refused_number_fails_the_request_and_is_never_retried(
    business, fake_twilio, queue, django_capture_on_commit_callbacks
):
    fake_twilio.create_error = twilio_error(ErrorKind.REFUSED_NUMBER, "21211")
    (request,) = enqueue(business, NUMBERS[0])
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch(business.pk)
    request.refresh_from_db()
    call = CallLog.objects.get()
    assert (call.status, call.error_code, call.ended_by) == ("failed", "21211", "dispatch")
    assert request.status == "failed"
    assert "error 21211" in request.last_error
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 1


def test_a_refused_business_pauses_it_and_leaves_its_requests_queued(business, fake_twilio):
    fake_twilio.create_error = twilio_error(ErrorKind.REFUSED_BUSINESS, "20003")
    requests = enqueue(business, *NUMBERS[:4])
    tasks.dispatch(business.pk)
    business.refresh_from_db()
    assert "20003" in business.paused_reason
    # The other claimed calls are not sent once the business is paused.
    assert len(fake_twilio.created) == 1
    for request in requests:
        request.refresh_from_db()
    assert [r.status for r in requests] == ["queued"] * 4
    assert [r.attempts for r in requests] == [0] * 4
    failed = CallLog.objects.filter(status="failed").order_by("error_code")
    assert list(failed.values_list("error_code", flat=True)) == ["20003", "not-sent", "not-sent"]
    fake_twilio.create_error = None
    business_resume(business_id=business.pk)
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 4


def test_not_placed_goes_back_to_queued_after_backoff_without_counting(business, fake_twilio):
    fake_twilio.create_error = twilio_error(ErrorKind.NOT_PLACED, "20429")
    (request,) = enqueue(business, NUMBERS[0])
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 0)
    assert request.next_attempt_at > timezone.now() + timedelta(seconds=200)
    assert "20429" in request.last_error


def test_an_unknown_outcome_holds_the_slot_and_is_not_retried(business, fake_twilio):
    fake_twilio.create_error = twilio_error(ErrorKind.UNKNOWN, "500")
    (request,) = enqueue(business, NUMBERS[0])
    enqueue(business, *NUMBERS[1:4])
    tasks.dispatch(business.pk)
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 3
    call = CallLog.objects.get(to_number=NUMBERS[0])
    assert (call.status, call.call_sid, call.error_code) == ("pending", None, "500")
    assert call.dial_started_at is not None
    request.refresh_from_db()
    assert request.status == "active"
