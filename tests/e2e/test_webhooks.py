"""A settled call's webhook, with real processes: gunicorn, qcluster and the local Twilio on
PostgreSQL, and the business's endpoint as a small HTTP server in this test that answers 500
first and 200 after."""

import time

import pytest
import requests
from standardwebhooks import Webhook

from api.keys import api_key_create
from calls.models import CallRequest
from tests.e2e.queue_checks import make_business, wait_until_settled
from tests.webhook_receiver import Receiver
from webhooks.models import WebhookMessage

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The first retry is due 5 s (±20 %) after the failure and django-q2's scheduler looks every
# 30 s: it leaves within 36 s; the per-minute cleanup alone would take up to 90 s.
FIRST_RETRY_BOUND_SECONDS = 40


def wait_for_deliveries(receiver, count, timeout):
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count:
        assert time.monotonic() < deadline, f"{len(receiver.received)} deliveries in {timeout} s"
        time.sleep(0.2)


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_a_settled_call_is_delivered_once_after_a_500_under_the_same_webhook_id(stack_for, broker):
    receiver = Receiver([500])
    try:
        stack = stack_for(
            broker,
            env={"WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"},
        )
        business = make_business("Hooked", "+14155550160", 1)
        business.webhook_url = receiver.url
        business.save()
        secret = business.webhook_secret
        assert secret.startswith("whsec_")

        # Queued by the business's own system, over the API with its key.
        _, key = api_key_create(business=business, name="CRM")
        answer = requests.post(
            f"{stack.web_url}/api/v1/calls",
            json={"to": "+14156000101", "metadata": {"order": 17}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        wait_until_settled(1, timeout=120)
        request = CallRequest.objects.get()
        assert (request.pk, request.status) == (answer.json()["id"], "done")

        wait_for_deliveries(receiver, 2, timeout=120)
        time.sleep(3)  # nothing more comes once one was answered 2xx
        first, second = receiver.received
        assert len(receiver.received) == 2
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        payload = Webhook(secret).verify(second.body, second.headers)
        assert payload["type"] == "call_request.settled"
        assert (payload["data"]["id"], payload["data"]["status"]) == (request.pk, "done")
        assert payload["data"]["metadata"] == {"order": 17}
        (call,) = payload["data"]["calls"]
        assert call["status"] == "completed" and call["sid"].startswith("CA")
        gap = second.at - first.at
        assert gap <= FIRST_RETRY_BOUND_SECONDS, f"the first retry came after {gap:.1f} s"

        message = WebhookMessage.objects.get()
        assert message.webhook_id == first.headers["webhook-id"]
        assert (message.attempts, message.next_attempt_at) == (2, None)
        assert message.delivered_at is not None and message.given_up_at is None
        assert [a.status_code for a in message.attempt_rows.all()] == [500, 200]
    finally:
        receiver.close()
