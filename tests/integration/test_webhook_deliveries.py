"""Delivering a webhook message to a real local endpoint: signed per Standard Webhooks, retried
with growing delays under the same webhook-id, given up after a day, never sent twice at once,
never sent to a non-public address in production, and nudged by the cleanup when lost."""

import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from standardwebhooks import Webhook

from calls.models import CallRequest
from calls.services.cleanup import cleanup_run
from tests.racing import race
from tests.recipes import make_request
from tests.webhook_receiver import Receiver, TricklingReceiver
from webhooks import deliveries, sending
from webhooks.deliveries import RETRY_DELAYS_SECONDS, message_deliver
from webhooks.models import WebhookAttempt, WebhookMessage
from webhooks.tasks import webhook_deliver

DELIVER = "webhooks.tasks.webhook_deliver"


@pytest.fixture
def development(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def endpoint(development):
    receivers = []

    def make(*answers, **options):
        receiver = Receiver(answers, **options)
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        receiver.close()


def settle(business, url) -> WebhookMessage:
    business.webhook_url = url
    business.save()
    request = make_request(business, status="active", attempts=1)
    CallRequest.objects.filter(pk=request.pk).status_move("done")
    return WebhookMessage.objects.get(request=request)


def make_due(message):
    WebhookMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def verified(business, received):
    """The payload, as a receiver verifying with the business's secret reads it."""
    business.refresh_from_db()
    return Webhook(business.webhook_secret).verify(received.body, received.headers)


def test_saving_a_webhook_url_gives_the_business_a_standard_webhooks_secret(business):
    business.webhook_url = "https://8.8.8.8/hooks"
    business.full_clean()
    business.save()
    business.refresh_from_db()
    assert business.webhook_secret.startswith("whsec_")
    Webhook(business.webhook_secret)  # well formed: decodes to a key
    secret = business.webhook_secret
    business.save()
    business.refresh_from_db()
    assert business.webhook_secret == secret


def test_a_2xx_delivers_the_message_signed_with_the_business_secret(business, endpoint):
    receiver = endpoint(204)
    message = settle(business, receiver.url)
    assert webhook_deliver(message.pk) == "delivered"
    (received,) = receiver.received
    assert received.headers["webhook-id"] == message.webhook_id
    assert received.headers["Content-Type"] == "application/json"
    assert verified(business, received) == message.payload
    message.refresh_from_db()
    assert message.delivered_at is not None
    assert (message.attempts, message.next_attempt_at, message.claimed_until) == (1, None, None)
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.message, attempt.status_code, attempt.error) == (message, 204, "")
    assert not Schedule.objects.filter(name__startswith="webhook:").exists()
    # Delivered: another delivery of it sends nothing.
    assert webhook_deliver(message.pk) == "not due"
    assert len(receiver.received) == 1


def test_a_500_is_retried_within_seconds_under_the_same_webhook_id(business, endpoint):
    receiver = endpoint(500)
    message = settle(business, receiver.url)
    before = timezone.now()
    assert webhook_deliver(message.pk) == "retrying"
    message.refresh_from_db()
    assert message.attempts == 1 and message.delivered_at is None
    delay = message.next_attempt_at - before
    assert timedelta(seconds=4) <= delay <= timedelta(seconds=6.5)
    (schedule,) = Schedule.objects.filter(name=f"webhook:{message.pk}")
    assert (schedule.func, schedule.args, schedule.schedule_type, schedule.repeats) == (
        DELIVER,
        f"({message.pk},)",
        Schedule.ONCE,
        -1,
    )
    assert schedule.next_run == message.next_attempt_at
    # Not yet due: a stray delivery (a nudge, a duplicate task) sends nothing.
    assert webhook_deliver(message.pk) == "not due"
    assert len(receiver.received) == 1

    make_due(message)
    assert webhook_deliver(message.pk) == "delivered"
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.webhook_id
    assert verified(business, second) == message.payload
    assert [a.status_code for a in WebhookAttempt.objects.all()] == [500, 200]


class Clock:
    def __init__(self):
        self.at = timezone.now()

    def now(self):
        return self.at


def test_failures_are_retried_with_growing_delays_and_given_up_after_a_day(
    business, endpoint, monkeypatch
):
    receiver = endpoint(*[503] * 50)
    message = settle(business, receiver.url)
    clock = Clock()
    monkeypatch.setattr(deliveries, "timezone", clock)
    delays, outcome = [], "retrying"
    while outcome == "retrying":
        outcome = webhook_deliver(message.pk)
        message.refresh_from_db()
        if message.next_attempt_at:
            delays.append((message.next_attempt_at - clock.at).total_seconds())
            clock.at = message.next_attempt_at
    assert outcome == "given up"
    assert message.given_up_at == clock.at <= message.created_at + timedelta(hours=24)
    assert message.next_attempt_at is None and message.delivered_at is None
    # 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then 8 h, each ±20 %.
    bases = [*RETRY_DELAYS_SECONDS, *[RETRY_DELAYS_SECONDS[-1]] * 10][: len(delays)]
    assert all(0.8 * b <= d <= 1.2 * b for b, d in zip(bases, delays, strict=True))
    assert delays[0] <= 6 and len(delays) >= 9
    attempts = list(WebhookAttempt.objects.values_list("status_code", flat=True))
    assert attempts == [503] * (len(delays) + 1) == [503] * message.attempts
    assert {r.headers["webhook-id"] for r in receiver.received} == {message.webhook_id}
    # Given up: nothing more is sent, by its schedule or any nudge.
    clock.at += timedelta(days=2)
    assert webhook_deliver(message.pk) == "not due"


def test_a_timeout_is_recorded_and_retried(business, endpoint, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver = endpoint(200, delay_seconds=1.5)
    message = settle(business, receiver.url)
    assert webhook_deliver(message.pk) == "retrying"
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None
    assert attempt.error == "No answer within 0.3 s."


@pytest.fixture
def trickling(development):
    receivers = []

    def make(**options):
        receivers.append(TricklingReceiver(**options))
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


def timed_delivery(message):
    started = time.monotonic()
    outcome = webhook_deliver(message.pk)
    return outcome, time.monotonic() - started


def test_a_receiver_trickling_its_answer_is_cut_at_the_deadline(business, trickling, settings):
    # A byte every 0.2 s restarts any per-read timeout; only a deadline ends it.
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    receiver = trickling(interval=0.2, trickle="answer")
    message = settle(business, receiver.url)
    outcome, seconds = timed_delivery(message)
    assert outcome == "retrying"
    assert seconds < 1.5
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.status_code, attempt.error) == (None, "No answer within 1 s.")
    assert 900 <= attempt.duration_ms < 1500
    message.refresh_from_db()
    assert (message.attempts, message.claimed_until, message.delivered_at) == (1, None, None)


def test_a_2xx_counts_once_its_headers_are_in_however_slow_the_body(business, trickling, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    receiver = trickling(interval=0.01, trickle="body")
    message = settle(business, receiver.url)
    outcome, seconds = timed_delivery(message)
    assert outcome == "delivered"
    assert seconds < 0.5  # the body (100,000 bytes at 100 a second) is never waited for
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.status_code, attempt.error) == (200, "")


def test_resolving_the_host_counts_against_the_same_deadline(
    business, trickling, settings, monkeypatch
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    receiver = trickling(interval=0.2, trickle="answer")
    real = socket.getaddrinfo

    def slow_dns(host, *args, **kwargs):
        if host == "hooks.example.com":
            time.sleep(0.6)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    message = settle(business, receiver.url.replace("127.0.0.1", "hooks.example.com"))
    outcome, seconds = timed_delivery(message)
    assert outcome == "retrying"
    assert seconds < 1.4  # 0.6 s resolving + what is left of 1 s, not 0.6 + 1
    assert receiver.connections == 1


def test_a_host_that_never_resolves_fails_the_attempt_at_the_deadline(
    business, development, settings, monkeypatch
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    message = settle(business, "http://hooks.example.com/calls")
    released = threading.Event()

    def hanging(*args, **kwargs):
        released.wait(30)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    try:
        outcome, seconds = timed_delivery(message)
    finally:
        released.set()
    assert outcome == "retrying" and seconds < 1.0
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.error == "Refused: The host hooks.example.com did not resolve within 0.5 s."


def test_a_closed_port_is_recorded_and_retried(business, development):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = settle(business, f"http://127.0.0.1:{port}/hooks")
    assert webhook_deliver(message.pk) == "retrying"
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None
    assert "refused" in attempt.error.lower()


def test_a_redirect_is_not_followed(business, endpoint):
    inside = endpoint()
    receiver = endpoint(302, redirect_to=inside.url)
    message = settle(business, receiver.url)
    assert webhook_deliver(message.pk) == "retrying"
    assert [a.status_code for a in WebhookAttempt.objects.all()] == [302]
    assert len(receiver.received) == 1 and inside.received == []


def test_a_host_resolving_to_loopback_is_refused_at_send_time(
    business, endpoint, settings, monkeypatch
):
    receiver = endpoint()
    port = receiver.server.server_address[1]
    # Saved while it resolved to a public address; it resolves to 127.0.0.1 now (rebinding).
    message = settle(business, f"http://8.8.8.8:{port}/hooks")
    type(business).objects.filter(pk=business.pk).update(
        webhook_url=f"http://hooks.example.com:{port}/hooks"
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOWED_PORTS = [port]
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        return real("127.0.0.1" if host == "hooks.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert webhook_deliver(message.pk) == "retrying"
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.status_code is None
    assert attempt.error == (
        "Refused: The host hooks.example.com must resolve to public internet addresses, "
        "and only to them."
    )
    assert receiver.received == []


def test_an_endpoint_on_loopback_is_refused_when_saved_in_production(business, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_PORTS = [8000]
    business.webhook_url = "http://localhost:8000/hooks"
    with pytest.raises(Exception, match="localhost must resolve to public internet addresses"):
        business.full_clean()


def test_a_delivery_that_finds_the_message_held_sends_nothing(business, endpoint, monkeypatch):
    receiver = endpoint()
    message = settle(business, receiver.url)
    real_post = sending.webhook_post
    inner = []

    def post_while_another_delivery_starts(**kwargs):
        inner.append(message_deliver(message_id=message.pk))
        return real_post(**kwargs)

    monkeypatch.setattr(sending, "webhook_post", post_while_another_delivery_starts)
    assert message_deliver(message_id=message.pk) == "delivered"
    assert inner == ["not due"]
    assert len(receiver.received) == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_delivery_whose_worker_died_is_taken_over_when_its_claim_ends(business, endpoint):
    receiver = endpoint()
    message = settle(business, receiver.url)
    held = timezone.now() + timedelta(seconds=30)
    WebhookMessage.objects.filter(pk=message.pk).update(claimed_until=held)
    assert webhook_deliver(message.pk) == "not due"
    WebhookMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert webhook_deliver(message.pk) == "delivered"
    assert len(receiver.received) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_deliveries_racing_for_one_message_send_it_once(business, endpoint):
    receiver = endpoint(200, delay_seconds=0.2)
    message = settle(business, receiver.url)
    results = race(*[lambda: message_deliver(message_id=message.pk)] * 4)
    assert sorted(results) == ["delivered", "not due", "not due", "not due"]
    assert len(receiver.received) == 1
    assert WebhookAttempt.objects.count() == 1


def test_a_business_whose_url_was_removed_records_why_and_retries(business, endpoint):
    receiver = endpoint()
    message = settle(business, receiver.url)
    type(business).objects.filter(pk=business.pk).update(webhook_url="")
    assert webhook_deliver(message.pk) == "retrying"
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.error == "The business has no webhook URL."
    assert receiver.received == []


def test_the_cleanup_nudges_messages_overdue_by_a_minute_and_unclaimed(
    business, queue, django_capture_on_commit_callbacks
):
    business.webhook_url = "https://8.8.8.8/hooks"
    business.save()
    now = timezone.now()
    messages = {}
    for name, due, claimed in [
        ("overdue", now - timedelta(minutes=2), None),
        ("just due", now - timedelta(seconds=10), None),
        ("held", now - timedelta(minutes=2), now + timedelta(seconds=30)),
        ("delivered", None, None),
    ]:
        messages[name] = WebhookMessage.objects.create(
            business=business,
            type="call_request.settled",
            payload={},
            next_attempt_at=due,
            claimed_until=claimed,
            retry_until=now + timedelta(hours=1),
        )
    with django_capture_on_commit_callbacks(execute=True):
        result = cleanup_run()
    assert result.webhooks == 1
    assert [args for func, args in queue() if func == DELIVER] == [(messages["overdue"].pk,)]


def test_the_body_sent_is_the_payload_as_compact_json(business, endpoint):
    receiver = endpoint()
    message = settle(business, receiver.url)
    webhook_deliver(message.pk)
    (received,) = receiver.received
    assert json.loads(received.body) == message.payload
    assert b", " not in received.body


def test_an_unexpected_error_while_sending_is_recorded_and_retried(business, endpoint, monkeypatch):
    receiver = endpoint()
    message = settle(business, receiver.url)

    def broken(**kwargs):
        raise RuntimeError("x" * 2000)

    monkeypatch.setattr(sending, "webhook_post", broken)
    assert webhook_deliver(message.pk) == "retrying"
    (attempt,) = WebhookAttempt.objects.all()
    assert attempt.error.startswith("RuntimeError: xxx") and len(attempt.error) == 500
    message.refresh_from_db()
    assert (message.attempts, message.claimed_until) == (1, None)
    assert receiver.received == []


def test_a_message_past_its_day_whose_deliveries_kept_dying_is_given_up_unsent(business, endpoint):
    receiver = endpoint()
    message = settle(business, receiver.url)
    WebhookMessage.objects.filter(pk=message.pk).update(
        retry_until=timezone.now() - timedelta(minutes=1)
    )
    assert webhook_deliver(message.pk) == "given up"
    message.refresh_from_db()
    assert message.given_up_at is not None and message.next_attempt_at is None
    assert receiver.received == []
    assert not WebhookAttempt.objects.exists()
