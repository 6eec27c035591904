"""The whole service as real processes: gunicorn, qcluster(s) and the local Twilio, on PostgreSQL.

What went to Twilio is read from the simulator's own record, so caps, calls per second and
double dials are checked where they matter: at Twilio's side.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest

from calls.models import CallLog, CallRequest
from tests.e2e.queue_checks import (
    SETTINGS,
    assert_each_call_has_twilios_outcome,
    make_business,
    wait_until_settled,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def assert_limits_held(stack, businesses):
    stats = stack.sim.stats()
    for business in businesses:
        assert stats["max_live_by_from"][business.phone_number] <= business.max_concurrent_calls
    assert stats["max_creates_per_second"] <= int(SETTINGS["TWILIO_CALLS_PER_SECOND"])


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_a_queue_drains_to_the_end_with_a_worker_killed_in_the_middle(stack_for, broker):
    stack = stack_for(broker, workers=1)
    # The 12th create hangs (the call is placed, the answer never comes): the worker sending it
    # is killed while it waits, with the create in flight and maybe more calls claimed.
    stack.sim.configure(create_hang=0, hang_seconds=60)
    businesses = [
        make_business("North", "+14155550110", 3),
        make_business("South", "+14155550120", 2),
    ]
    # Outcomes by the simulator's rules: ...0002 busy, ...0003 no-answer, ...0004 failed.
    suffixes = ["0101", "0002", "0102", "0003", "0103", "0004", "0104", "0105", "0106", "0107"]
    numbers = [f"+1415{600 + n // 10}{suffixes[n % 10]}" for n in range(50)]
    for business, part in zip(businesses, (numbers[:25], numbers[25:]), strict=True):
        out = stack.manage("enqueue_calls", "--business", str(business.pk), *part)
        assert out.strip().endswith("25 queued, 0 refused.")

    deadline = time.monotonic() + 60
    while len(stack.sim.calls()) < 11 and time.monotonic() < deadline:
        time.sleep(0.02)
    stack.sim.configure(create_hang=1)
    while not stack.sim.stats()["create_faults"].get("create_hang"):
        assert time.monotonic() < deadline, "the hanging create never came"
        time.sleep(0.02)
    time.sleep(0.5)
    stack.kill_worker(0)
    stack.start_worker(0)
    stack.start_worker(1)  # two clusters from here on: calls per second must hold across both

    statuses = wait_until_settled(50, timeout=300)
    assert statuses["done"] + statuses["failed"] == 50
    assert not CallRequest.objects.filter(status="failed", last_error="").exists()
    records = assert_each_call_has_twilios_outcome(stack)
    expected = Counter(
        "done" if r["planned_outcome"] == "completed" else "failed" for r in records.values()
    )
    assert len(records) == 50
    assert statuses == expected
    assert_limits_held(stack, businesses)
    # No slot was held longer than the orphan limit plus two cleanup periods (plus the scheduler's
    # 30 s lateness) beyond the call itself.
    bound = timedelta(seconds=5 + 2 * 60 + 30 + 5 + 20)
    for call in CallLog.objects.all():
        assert call.ended_at is not None
        assert call.ended_at - call.created_at <= bound, (call.to_number, call.error_message)


def test_thirty_calls_under_faults_each_reach_twilios_outcome(stack_for):
    stack = stack_for("orm")
    caps = {"+14155550130": 1, "+14155550140": 2, "+14155550150": 3}
    businesses = [make_business(f"Cap {cap}", number, cap) for number, cap in caps.items()]
    suffixes = ["0101", "0002", "0102", "0003", "0103", "0005", "0104", "0004", "0105", "0106"]
    numbers = [f"+1415{700 + n // 10}{suffixes[n % 10]}" for n in range(30)]
    dropped = numbers[0]
    stack.sim.configure(
        duplicate_callbacks=0.3,
        reorder_callbacks=0.2,
        create_429=3,
        numbers={
            dropped: {"drop_terminal_callback": True},
            # Twilio answers 500 but placed the call: adopted from its callbacks, not re-placed.
            numbers[12]: {"create_500_placed": 1},
        },
    )
    for n, business in enumerate(businesses):
        stack.manage(
            "enqueue_calls", "--business", str(business.pk), *numbers[n * 10 : n * 10 + 10]
        )

    statuses = wait_until_settled(30, timeout=300)
    records = assert_each_call_has_twilios_outcome(stack)
    assert len(records) == 30
    assert sum(statuses.values()) == 30
    assert_limits_held(stack, businesses)
    stats = stack.sim.stats()
    assert stats["create_faults"]["create_429"] == 3
    assert stats["callbacks"]["duplicated"] > 0
    dropped_call = CallLog.objects.get(to_number=dropped, call_sid__isnull=False)
    assert dropped_call.ended_by == "reconcile"
    (adopted,) = CallLog.objects.filter(to_number=numbers[12])
    assert adopted.call_sid in records
    assert adopted.error_code == "20500"  # kept from the create, for the operator to see
