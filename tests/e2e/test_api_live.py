"""The HTTP API against real processes (gunicorn with two workers, qcluster, the local Twilio)
on PostgreSQL: a call queued over the API is placed once and settles, a retry with the same
Idempotency-Key on the other web worker queues nothing more, and the throttle holds across
web processes."""

import time

import pytest
import requests

from api.keys import api_key_create
from calls.models import Business, CallRequest
from tests.e2e.queue_checks import ALL_DAY

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_call_queued_over_the_api_settles_once(stack_for):
    stack = stack_for("orm")
    business = Business.objects.create(**ALL_DAY, name="North", phone_number="+14155550160")
    _, key = api_key_create(business=business, name="CRM")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    body = {"to": "+14155580101", "metadata": {"order": 17}}
    headers = {"Idempotency-Key": "order-17"}
    # A fresh connection each time, so gunicorn's two workers both get a turn.
    answers = [
        requests.post(
            f"{stack.web_url}/api/v1/calls",
            json=body,
            headers={**headers, "Authorization": f"Bearer {key}"},
            timeout=10,
        )
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [201] * 4
    assert all(a.json() == answers[0].json() for a in answers)
    request_id = answers[0].json()["id"]

    deadline = time.monotonic() + 60
    while (read := session.get(f"{stack.web_url}/api/v1/calls/{request_id}", timeout=10).json())[
        "status"
    ] != "done":
        assert time.monotonic() < deadline, f"not settled within 60 s: {read}"
        time.sleep(0.5)
    (call,) = read["calls"]
    assert call["status"] == "completed" and call["ended_at"]
    assert read["metadata"] == {"order": 17}
    placed = [c for c in stack.sim.calls() if c["to"] == "+14155580101"]
    assert [c["sid"] for c in placed] == [call["sid"]]
    assert CallRequest.objects.count() == 1


def test_the_throttle_holds_across_web_processes(stack_for):
    stack = stack_for("orm", env={"API_RATE_PER_MINUTE": "5"})
    business = Business.objects.create(**ALL_DAY, name="North", phone_number="+14155550160")
    _, key = api_key_create(business=business, name="CRM")
    # Far enough from the minute's end that the window does not roll over mid-test.
    while time.time() % 60 > 40:
        time.sleep(1)
    statuses = [
        requests.get(
            f"{stack.web_url}/api/v1/calls", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        for _ in range(8)
    ]
    assert [r.status_code for r in statuses] == [200] * 5 + [429] * 3
    assert 1 <= int(statuses[-1].headers["Retry-After"]) <= 60
