"""Twilio's refusals and throttles against the local Twilio, as real processes on PostgreSQL:
whose fault a refusal is decides who stops, and a throttle costs seconds, not the retry delay."""

import time
from collections import Counter

import pytest

from calls.models import Business, CallLog, CallRequest, DialingControl
from tests.e2e.queue_checks import ALL_DAY, FINAL, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(stack_for):
    return stack_for("orm")


def test_refusals_stop_whoever_is_at_fault_and_a_throttle_retries_within_seconds(stack):
    north = Business.objects.create(**ALL_DAY, name="North", phone_number="+14155550160")
    south = Business.objects.create(**ALL_DAY, name="South", phone_number="+14155550170")
    east = Business.objects.create(**ALL_DAY, name="East", phone_number="+14155550180")
    geo_blocked, throttled = "+14155580101", "+14155580301"
    stack.sim.configure(
        retry_after=2,
        numbers={
            geo_blocked: {"refuse": 21215},  # no geo permission for that destination
            south.phone_number: {"refuse": 21205},  # Twilio rejects the service's answer URL
            throttled: {"create_429": 3},
        },
    )
    north_numbers = [geo_blocked, "+14155580102", "+14155580103"]
    south_numbers = ["+14155580201", "+14155580202", "+14155580203"]
    for business, numbers in ((north, north_numbers), (south, south_numbers), (east, [throttled])):
        stack.manage("enqueue_calls", "--business", str(business.pk), *numbers)
    enqueued = time.monotonic()

    # A 429 waits seconds, not the business's 300 s retry delay: done well within a minute.
    wait_for(
        lambda: CallRequest.objects.filter(to_number=throttled, status="done").exists(),
        60,
        "the throttled request was not done",
    )
    attempts = CallLog.objects.filter(to_number=throttled).order_by("dial_started_at")
    assert [a.error_code for a in attempts] == ["20429", "20429", "20429", ""]
    stamps = [a.dial_started_at for a in attempts]
    # Each retry came no sooner than Twilio's Retry-After asked.
    assert all((b - a).total_seconds() >= 2 for a, b in zip(stamps, stamps[1:], strict=False))
    assert CallRequest.objects.get(to_number=throttled).attempts == 1
    assert time.monotonic() - enqueued < 60

    def north_settled():
        rows = dict(CallRequest.objects.filter(business=north).values_list("to_number", "status"))
        return rows if set(rows.values()) <= FINAL else None

    statuses = wait_for(north_settled, 60, "North's requests did not settle")
    # 21215 is the number's fault: that request fails alone; North and all dialing go on.
    assert statuses == {geo_blocked: "failed", north_numbers[1]: "done", north_numbers[2]: "done"}
    assert "21215" in CallRequest.objects.get(to_number=geo_blocked).last_error
    north.refresh_from_db()
    assert north.paused_reason == ""
    assert not DialingControl.get().paused

    # 21205 is the business's: South is paused with the reason, every request still queued.
    south.refresh_from_db()
    assert "21205" in south.paused_reason
    south_requests = CallRequest.objects.filter(business=south)
    assert Counter(south_requests.values_list("status", "attempts")) == {("queued", 0): 3}
    assert [c["from"] for c in stack.sim.calls()].count(south.phone_number) == 0
    assert list(CallLog.objects.filter(business=south).values_list("error_code", flat=True)) == [
        "21205"
    ]
