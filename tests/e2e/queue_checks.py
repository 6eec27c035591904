"""What the end-to-end tests do to a live stack's queue and check of it, in the database and at
Twilio's side of the wire (the simulator's own record)."""

import time
from collections import Counter

from django_q.models import Task

from calls.models import Business, CallLog, CallRequest, Lease

REDIS_URL = "redis://127.0.0.1:6379/15"
SETTINGS = {
    "TWILIO_CALLS_PER_SECOND": "4",
    "ORPHAN_CALL_SECONDS": "5",
    "RECONCILE_AFTER_SECONDS": "8",
    "CALL_RING_TIMEOUT_SECONDS": "5",
    "CALL_TIME_LIMIT_SECONDS": "20",
    "STUCK_CALL_SECONDS": "60",
    "Q_WORKERS": "2",
    # A second look at Twilio's list before a call is taken as never placed (issue 10's logic
    # half); the simulator lists a call 0.5 s after its creation.
    "TWILIO_LIST_LAG_SECONDS": "2",
}
FINAL = {"done", "failed", "canceled"}
CLEANUP_TASK = "calls.tasks.cleanup_orphaned_calls"


# The live stack judges calling windows on the real clock: a window open all day keeps these
# tests independent of the hour they run at (tests/integration/test_calling_windows.py sets it).
ALL_DAY = {"window_start_hour": 0, "window_end_hour": 24}


def make_business(name, number, cap):
    return Business.objects.create(
        name=name, phone_number=number, max_concurrent_calls=cap, max_attempts=1,
        retry_delay_seconds=1, **ALL_DAY,
    )  # fmt: skip


def wait_for(predicate, timeout, what):
    """`predicate()`'s first true result, polled until `timeout` s; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.2)
    return result


def wait_until_settled(count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = Counter(CallRequest.objects.values_list("status", flat=True))
        if sum(statuses.values()) == count and set(statuses) <= FINAL:
            return statuses
        time.sleep(0.5)
    raise AssertionError(f"requests not settled in {timeout} s: {statuses}")


def cleanup_run(stack, timeout=30) -> str:
    """Runs the cleanup on the stack's worker, as its schedule does, and waits for the end of
    it: "ran", "skipped" (another run's lease is held) or "killed" (at its fault point)."""
    results = Task.objects.filter(func=CLEANUP_TASK)
    finished = results.count()
    succeeded_at = cleanup_succeeded_at()
    killed_at = stack.fault_fired_at("cleanup")
    stack.queue_task(CLEANUP_TASK)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.fault_fired_at("cleanup") != killed_at:
            return "killed"
        if results.count() > finished:
            return "ran" if cleanup_succeeded_at() != succeeded_at else "skipped"
        time.sleep(0.1)
    raise AssertionError(f"the cleanup did not finish in {timeout} s; see {stack.log_dir}")


def cleanup_succeeded_at():
    return Lease.objects.filter(name="cleanup").values_list("last_succeeded_at", flat=True).first()


def assert_each_call_has_twilios_outcome(stack):
    records = {c["sid"]: c for c in stack.sim.calls()}
    placed = Counter(c["to"] for c in records.values())
    assert [n for n, times in placed.items() if times > 1] == [], "a number was placed twice"
    calls = {c.call_sid: c for c in CallLog.objects.exclude(call_sid=None)}
    assert set(calls) == set(records)
    wrong = {
        sid: (calls[sid].status, record["status"])
        for sid, record in records.items()
        if calls[sid].status != record["status"]
    }
    assert wrong == {}
    return records
