"""A process killed (SIGKILL, by itself, at a fault point of calls/faults.py) at each step of the
queue: no call lost, no number dialed twice (the simulator's record), every slot back within two
cleanup runs.

The cleanup is run by the test on the stack's worker every few seconds instead of once a minute
by the schedule, so the runs a fault needs can be counted without waiting minutes.
"""

import time
from collections import Counter

import pytest

from calls.models import CallLog, CallRequest
from tests.e2e.queue_checks import (
    FINAL,
    SETTINGS,
    assert_each_call_has_twilios_outcome,
    cleanup_run,
    make_business,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORPHAN_SECONDS = int(SETTINGS["ORPHAN_CALL_SECONDS"])
CLEANUP_EVERY = 3.0
# Numbers ending 0002 are busy at the simulator, 0003 no-answer; the rest are answered.
NUMBERS = [f"+1415777{n:02d}{end}" for n, end in enumerate(["01", "02", "03", "04", "05", "06"])]


def held_without_sid(before: float) -> set[int]:
    """Calls created before `before` that still hold a slot with no SID from Twilio."""
    return set(
        CallLog.objects.filter(
            status=CallLog.Status.PENDING, call_sid=None, created_at__lt=_at(before)
        ).values_list("pk", flat=True)
    )


def _at(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


def drain(stack, count, killed_at, timeout=150):
    """Runs the cleanup every CLEANUP_EVERY s until the `count` requests are final. Returns the
    runs made from ORPHAN_CALL_SECONDS after the kill on: (outcome, calls the kill left holding a
    slot without a SID just before that run)."""
    runs = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = Counter(CallRequest.objects.values_list("status", flat=True))
        if sum(statuses.values()) == count and set(statuses) <= FINAL:
            return runs
        if time.time() >= killed_at + ORPHAN_SECONDS:
            stuck = held_without_sid(killed_at)
            runs.append((cleanup_run(stack), stuck))
        time.sleep(CLEANUP_EVERY)
    raise AssertionError(f"requests not settled in {timeout} s: {statuses}; runs {runs}")


def assert_no_call_lost_or_dialed_twice(stack, count):
    records = assert_each_call_has_twilios_outcome(stack)
    assert sorted(r["to"] for r in records.values()) == sorted(NUMBERS[:count])
    outcomes = Counter(CallRequest.objects.values_list("status", flat=True))
    expected = Counter(
        "done" if r["planned_outcome"] == "completed" else "failed" for r in records.values()
    )
    assert outcomes == expected
    assert not CallLog.objects.filter(status__in=CallLog.LIVE_STATUSES).exists()
    return records


def report(name, started, killed_at, runs, records):
    attempts = CallLog.objects.count()
    print(
        f"\n[fault {name}] calls {len(records)}, attempts {attempts} "
        f"({attempts - len(records)} retried uncounted), cleanup runs after the orphan limit "
        f"{[outcome for outcome, _ in runs]}, kill at {killed_at - started:.1f} s, "
        f"settled at {time.time() - started:.1f} s"
    )


@pytest.mark.parametrize("broker", ["orm", "redis"])
@pytest.mark.parametrize("point", ["claim", "dial-token", "dial-stamped", "create-returned"])
def test_a_worker_killed_at_a_step_of_dispatch_loses_no_call_and_dials_none_twice(
    stack_for, broker, point
):
    stack = stack_for(broker, fault_points=[point], schedule=False)
    business = make_business("Kill", "+14155550160", 3)
    started = time.time()
    stack.manage("enqueue_calls", "--business", str(business.pk), *NUMBERS)
    killed_at = stack.wait_for_fault(point)

    runs = drain(stack, len(NUMBERS), killed_at)

    records = assert_no_call_lost_or_dialed_twice(stack, len(NUMBERS))
    # Every slot the kill left held is free after the second cleanup past the orphan limit.
    assert all(not stuck for _, stuck in runs[2:]), runs
    report(f"{point} ({broker})", started, killed_at, runs, records)


def test_a_worker_killed_during_the_cleanup_leaves_its_work_to_the_next_run(stack_for):
    # The dial-token kill leaves claimed calls never sent; the first cleanup is killed while
    # failing one of them, holding its lease. The lease is one cleanup period here, as in
    # production (the task timeout + 5 s, against a period of 60 s that may start 30 s late).
    stack = stack_for(
        "orm",
        fault_points=["dial-token", "cleanup"],
        schedule=False,
        env={"CLEANUP_LEASE_SECONDS": str(int(CLEANUP_EVERY))},
    )
    business = make_business("Kill", "+14155550160", 3)
    started = time.time()
    stack.manage("enqueue_calls", "--business", str(business.pk), *NUMBERS)
    killed_at = stack.wait_for_fault("dial-token")

    runs = drain(stack, len(NUMBERS), killed_at)

    assert [outcome for outcome, _ in runs[:2]] == ["killed", "ran"], runs
    assert runs[0][1], "the killed cleanup had never-sent calls to fail"
    assert all(not stuck for _, stuck in runs[2:]), runs
    records = assert_no_call_lost_or_dialed_twice(stack, len(NUMBERS))
    report("cleanup (orm)", started, stack.fault_fired_at("cleanup"), runs, records)


def test_the_web_process_killed_mid_callback_loses_no_call(stack_for):
    # The first `completed` report is applied, then its gunicorn worker dies before the commit:
    # Twilio does not send it again, so the call stays in progress until, silent for
    # RECONCILE_AFTER_SECONDS, a cleanup has it reconciled with Twilio.
    stack = stack_for("orm", fault_points=["callback-completed"], schedule=False)
    business = make_business("Web", "+14155550170", 3)
    started = time.time()
    stack.manage("enqueue_calls", "--business", str(business.pk), *NUMBERS)
    killed_at = stack.wait_for_fault("callback-completed")

    runs = drain(stack, len(NUMBERS), killed_at)

    records = assert_no_call_lost_or_dialed_twice(stack, len(NUMBERS))
    cut_off = [
        sid
        for sid, record in records.items()
        for event in record["timeline"]
        if event["event"] == "callback" and event["status"] == "completed" and event["error"]
    ]
    assert len(cut_off) == 1
    assert CallLog.objects.get(call_sid=cut_off[0]).ended_by == CallLog.EndedBy.RECONCILE
    assert CallLog.objects.filter(ended_by=CallLog.EndedBy.TWILIO).count() == len(NUMBERS) - 1
    report("callback-completed (web)", started, killed_at, runs, records)
