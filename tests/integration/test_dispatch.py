from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from calls import tasks
from calls.models import Business, CallLog, CallRequest, Campaign, DialingControl
from calls.services.dispatch import business_claim
from calls.services.enqueue import enqueue_outbound_call
from calls.services.operator_actions import campaign_set_status
from calls.services.pauses import business_pause, business_resume
from calls.services.placing import Placed, call_place, throttle_delay
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
    fake_twilio.create_error = twilio_error(ErrorKind.REFUSED_BUSINESS, "21210")
    requests = enqueue(business, *NUMBERS[:4])
    tasks.dispatch(business.pk)
    business.refresh_from_db()
    assert "21210" in business.paused_reason
    assert not DialingControl.get().paused  # one business's setup pauses no one else
    # The other claimed calls are not sent once the business is paused.
    assert len(fake_twilio.created) == 1
    for request in requests:
        request.refresh_from_db()
    assert [r.status for r in requests] == ["queued"] * 4
    assert [r.attempts for r in requests] == [0] * 4
    # The claims never sent are handed back as if never made: no attempt row to misread.
    assert list(CallLog.objects.values_list("status", "error_code")) == [("failed", "21210")]
    fake_twilio.create_error = None
    business_resume(business_id=business.pk)
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 4


def test_a_refused_account_pauses_all_dialing_and_leaves_every_request_queued(
    business, fake_twilio
):
    other = baker.make("calls.Business", phone_number="+14155550200")
    fake_twilio.create_error = twilio_error(ErrorKind.REFUSED_ACCOUNT, "20003")
    requests = enqueue(business, *NUMBERS[:2]) + enqueue(other, NUMBERS[2])
    tasks.dispatch(business.pk)
    tasks.dispatch(other.pk)
    control = DialingControl.get()
    assert control.paused and "20003" in control.reason
    business.refresh_from_db()
    assert business.paused_reason == ""  # not this business's fault
    assert len(fake_twilio.created) == 1
    for request in requests:
        request.refresh_from_db()
    assert [(r.status, r.attempts) for r in requests] == [("queued", 0)] * 3


def test_a_refused_number_pauses_no_one_and_the_next_request_is_dialed(business, fake_twilio):
    fake_twilio.create_error = twilio_error(ErrorKind.REFUSED_NUMBER, "21215")
    first, second = enqueue(business, *NUMBERS[:2])
    business_claim(business_id=business.pk)  # both claimed; the first create is refused
    (first_call,) = CallLog.objects.filter(to_number=NUMBERS[0])
    call_place(call_id=first_call.pk)
    fake_twilio.create_error = None
    call_place(call_id=CallLog.objects.get(to_number=NUMBERS[1]).pk)
    first.refresh_from_db()
    second.refresh_from_db()
    business.refresh_from_db()
    assert (first.status, second.status) == ("failed", "active")
    assert business.paused_reason == ""
    assert not DialingControl.get().paused


def test_not_placed_goes_back_to_queued_within_seconds_without_counting(business, fake_twilio):
    fake_twilio.create_error = twilio_error(ErrorKind.NOT_PLACED, "20429")
    (request,) = enqueue(business, NUMBERS[0])
    (call_id,) = business_claim(business_id=business.pk)
    assert call_place(call_id=call_id) is Placed.THROTTLED
    request.refresh_from_db()
    assert (request.status, request.attempts, request.throttled_count) == ("queued", 0, 1)
    wait = (request.next_attempt_at - timezone.now()).total_seconds()
    assert 0 < wait <= 1.2
    assert "20429" in request.last_error
    # The next throttle in a row waits about twice as long; a create that goes through resets it.
    CallRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
    (call_id,) = business_claim(business_id=business.pk)
    call_place(call_id=call_id)
    request.refresh_from_db()
    assert 1.5 <= (request.next_attempt_at - timezone.now()).total_seconds() <= 2.4
    fake_twilio.create_error = None
    CallRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
    (call_id,) = business_claim(business_id=business.pk)
    assert call_place(call_id=call_id) is Placed.SENT
    request.refresh_from_db()
    assert (request.status, request.attempts, request.throttled_count) == ("active", 1, 0)


def test_a_throttle_honours_twilios_retry_after(business, fake_twilio):
    fake_twilio.create_error = TwilioError(
        kind=ErrorKind.NOT_PLACED, code="20429", message="Too Many Requests", retry_after=7
    )
    (request,) = enqueue(business, NUMBERS[0])
    (call_id,) = business_claim(business_id=business.pk)
    call_place(call_id=call_id)
    request.refresh_from_db()
    assert 6 <= (request.next_attempt_at - timezone.now()).total_seconds() <= 7


@pytest.mark.parametrize(
    ("throttled", "retry_after", "low", "high"),
    [(0, None, 0.8, 1.2), (3, None, 6.4, 9.6), (6, None, 51.2, 60), (20, None, 60, 60),
     (0, 30, 30, 30), (6, 5, 51.2, 60)],
)  # fmt: skip
def test_the_throttle_wait_doubles_to_a_cap_and_never_undercuts_retry_after(
    throttled, retry_after, low, high
):
    for _ in range(20):
        seconds = throttle_delay(throttled=throttled, retry_after=retry_after).total_seconds()
        assert low <= seconds <= high


def test_a_dispatch_waits_for_its_throttled_request_within_its_budget(
    business, fake_twilio, settings, monkeypatch
):
    settings.DISPATCH_BUDGET_SECONDS = 5
    answers = [twilio_error(ErrorKind.NOT_PLACED, "20429")]
    real_create = fake_twilio.call_create

    def throttled_once(**kwargs):
        if answers:
            fake_twilio.created.append(kwargs)
            raise answers.pop()
        return real_create(**kwargs)

    monkeypatch.setattr("calls.twilio_client.call_create", throttled_once)
    (request,) = enqueue(business, NUMBERS[0])
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert (request.status, request.attempts, request.throttled_count) == ("active", 1, 0)
    assert len(fake_twilio.created) == 2
    statuses = list(CallLog.objects.order_by("pk").values_list("status", "error_code"))
    assert statuses == [("failed", "20429"), ("queued", "")]


class BudgetTime:
    """`time` for the dispatch and its token waits: its budget passes only while it waits for a
    token, not while the machine is busy (CI once ran a claim past the half second)."""

    def __init__(self):
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds


def test_a_dispatch_hands_back_what_it_could_not_send_within_its_budget(
    business, fake_twilio, settings, queue, django_capture_on_commit_callbacks, monkeypatch
):
    budget_time = BudgetTime()
    for module in ("calls.services.dispatch", "calls.services.dial_tokens"):
        monkeypatch.setattr(f"{module}.time", budget_time)
    settings.TWILIO_CALLS_PER_SECOND = 1
    settings.DISPATCH_BUDGET_SECONDS = 0.5
    business.max_concurrent_calls = 3
    business.save()
    requests = enqueue(business, *NUMBERS[:3])
    queue()  # forget the enqueue's own nudge
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch(business.pk)
    # One token a second: one create fits in half a second; the other claim is handed back.
    assert len(fake_twilio.created) == 1
    assert budget_time.elapsed >= 0.5  # it waited out its budget for the next token
    for request in requests:
        request.refresh_from_db()
    assert sorted((r.status, r.attempts) for r in requests) == [
        ("active", 1), ("queued", 0), ("queued", 0)
    ]  # fmt: skip
    assert CallLog.objects.count() == 1  # the unsent claim left no attempt behind
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]  # the rest, next time


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
