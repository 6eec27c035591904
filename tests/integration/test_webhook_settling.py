"""A request that settles (done, failed, canceled) gets one webhook message, on every path that
settles it, stored with the settling and delivered later from a task: never on the callback's
path. Only businesses with a webhook URL get messages."""

import pytest
from django.db import transaction

from calls.models import CallRequest, Campaign
from calls.services.erasure import number_erase
from calls.services.operator_actions import campaign_set_status, request_retry_now
from calls.services.reconcile import call_reconcile
from tests.recipes import callback, make_call, make_request, sid, twilio_call
from webhooks.models import WebhookMessage

DELIVER = "webhooks.tasks.webhook_deliver"


@pytest.fixture
def hooked(business, receiver):
    business.webhook_url = receiver.url
    business.save()
    return business


def live_attempt(business, request, n="a", **fields):
    CallRequest.objects.filter(pk=request.pk).update(status="active", attempts=1)
    return make_call(business, request=request, call_sid=sid(n), status="in-progress", **fields)


def status_path(call):
    return f"/twilio/calls/{call.public_id}/status"


def deliveries(queued):
    return [args for func, args in queued if func == DELIVER]


def test_a_completed_call_settles_its_request_done_and_stores_one_message(
    hooked, receiver, twilio_post, queue, django_capture_on_commit_callbacks
):
    request = make_request(hooked)
    call = live_attempt(hooked, request, answered_by="human")
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(
            status_path(call), callback(call.call_sid, "completed", 5, CallDuration="42")
        )
    assert response.status_code == 204
    request.refresh_from_db()
    assert request.status == "done"
    (message,) = WebhookMessage.objects.all()
    assert (message.business, message.request, message.type) == (
        hooked,
        request,
        "call_request.settled",
    )
    assert message.webhook_id.startswith("msg_")
    assert message.attempts == 0 and message.next_attempt_at is not None
    data = message.payload["data"]
    assert message.payload["type"] == "call_request.settled"
    assert message.payload["timestamp"].endswith("Z")
    assert (data["id"], data["status"], data["attempts"], data["reason"]) == (
        request.pk,
        "done",
        1,
        "",
    )
    assert data["metadata"] == {}
    (sent_call,) = data["calls"]
    assert sent_call["sid"] == call.call_sid
    assert (sent_call["status"], sent_call["duration"], sent_call["answered_by"]) == (
        "completed",
        42,
        "human",
    )
    assert sent_call["ended_at"].endswith("Z")
    # Queued after commit, after the slot's dispatch; nothing was POSTed on the callback's path.
    assert deliveries(queue()) == [(message.pk,)]
    assert receiver.received == []


def test_a_busy_last_attempt_fails_the_request_and_says_why(
    hooked, twilio_post, queue, django_capture_on_commit_callbacks
):
    request = make_request(hooked, max_attempts=1)
    call = live_attempt(hooked, request)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(status_path(call), callback(call.call_sid, "busy", 5))
    request.refresh_from_db()
    assert request.status == "failed"
    (message,) = WebhookMessage.objects.all()
    assert message.payload["data"]["status"] == "failed"
    assert message.payload["data"]["reason"] == request.last_error != ""
    assert deliveries(queue()) == [(message.pk,)]


def test_an_attempt_that_will_be_retried_settles_nothing(
    hooked, twilio_post, queue, django_capture_on_commit_callbacks
):
    request = make_request(hooked, max_attempts=3)
    call = live_attempt(hooked, request)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(status_path(call), callback(call.call_sid, "no-answer", 5))
    request.refresh_from_db()
    assert request.status == "queued"
    assert not WebhookMessage.objects.exists()
    assert deliveries(queue()) == []


def test_a_reconcile_that_finds_the_call_completed_settles_its_request(
    hooked, fake_twilio, queue, django_capture_on_commit_callbacks
):
    request = make_request(hooked)
    call = live_attempt(hooked, request)
    fake_twilio.calls[call.call_sid] = twilio_call(call.call_sid, "completed", duration=7)
    with django_capture_on_commit_callbacks(execute=True):
        call_reconcile(call_id=call.pk)
    request.refresh_from_db()
    assert request.status == "done"
    (message,) = WebhookMessage.objects.all()
    assert message.payload["data"]["calls"][0]["duration"] == 7
    assert deliveries(queue()) == [(message.pk,)]


def test_an_operator_canceling_a_campaign_settles_each_queued_request_once(
    hooked, queue, django_capture_on_commit_callbacks
):
    campaign = Campaign.objects.create(business=hooked, name="spring")
    requests = [make_request(hooked, campaign=campaign, number=f"+1415555012{n}") for n in "12"]
    with django_capture_on_commit_callbacks(execute=True):
        result = campaign_set_status(campaign_id=campaign.pk, status="canceled")
    assert result.changed == 1
    messages = list(WebhookMessage.objects.order_by("request_id"))
    assert [m.request_id for m in messages] == [r.pk for r in requests]
    assert {m.payload["data"]["status"] for m in messages} == {"canceled"}
    assert {m.payload["data"]["reason"] for m in messages} == {"The campaign was canceled."}
    assert {m.payload["data"]["campaign"] for m in messages} == {campaign.pk}
    assert sorted(deliveries(queue())) == [(m.pk,) for m in messages]


def test_an_erased_number_cancels_its_queued_request_with_a_message_without_the_number(
    hooked, django_capture_on_commit_callbacks
):
    request = make_request(hooked)
    with django_capture_on_commit_callbacks(execute=True):
        number_erase(business_id=hooked.pk, number=request.to_number, via="test")
    (message,) = WebhookMessage.objects.all()
    assert message.payload["data"]["status"] == "canceled"
    assert request.to_number not in str(message.payload)


def test_erasing_a_number_removes_it_from_the_messages_already_stored(hooked):
    request = make_request(hooked, status="active", attempts=1)
    reason = f"Twilio: {request.to_number} is unreachable."
    CallRequest.objects.filter(pk=request.pk).status_move("failed", last_error=reason)
    number_erase(business_id=hooked.pk, number=request.to_number, via="test")
    (message,) = WebhookMessage.objects.all()
    assert message.payload["data"]["reason"] == "Twilio: erased is unreachable."


def test_a_request_retried_by_an_operator_and_settled_again_gets_a_second_message(
    hooked, twilio_post, django_capture_on_commit_callbacks
):
    request = make_request(hooked)
    first = live_attempt(hooked, request, "a")
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(status_path(first), callback(first.call_sid, "completed", 5))
        request_retry_now(request_id=request.pk)
    second = live_attempt(hooked, request, "b")
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(status_path(second), callback(second.call_sid, "completed", 5))
    messages = list(WebhookMessage.objects.order_by("pk"))
    assert len(messages) == 2
    assert messages[0].webhook_id != messages[1].webhook_id
    assert [len(m.payload["data"]["calls"]) for m in messages] == [1, 2]


def test_a_duplicate_callback_settles_nothing_twice(
    hooked, twilio_post, django_capture_on_commit_callbacks
):
    request = make_request(hooked)
    call = live_attempt(hooked, request)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            twilio_post(status_path(call), callback(call.call_sid, "completed", 5))
    assert WebhookMessage.objects.count() == 1


def test_a_business_without_a_webhook_url_gets_no_message(
    business, twilio_post, queue, django_capture_on_commit_callbacks
):
    request = make_request(business)
    call = live_attempt(business, request)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(status_path(call), callback(call.call_sid, "completed", 5))
    request.refresh_from_db()
    assert request.status == "done"
    assert not WebhookMessage.objects.exists()
    assert deliveries(queue()) == []


def test_a_settling_rolled_back_leaves_no_message_and_queues_nothing(hooked, queue):
    request = make_request(hooked)
    with pytest.raises(RuntimeError), transaction.atomic():
        CallRequest.objects.filter(pk=request.pk).status_move("canceled", last_error="x")
        raise RuntimeError
    assert not WebhookMessage.objects.exists()
    assert queue() == []


def test_a_move_that_settles_no_row_announces_nothing(hooked):
    done = make_request(hooked, status="done")
    assert CallRequest.objects.filter(pk=done.pk).status_move("canceled") == 0
    assert not WebhookMessage.objects.exists()
