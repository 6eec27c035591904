"""Worker memory: resident size of qcluster workers after 1,000 and after 20,000 lead tasks.

    .venv/bin/python bench/memory.py [--broker orm|redis] [--tasks 20000] [--smoke]

A real `manage.py qcluster` (Q_WORKERS=2, Q_RECYCLE=0 and Q_MAX_RSS_KB=0, so no worker is ever
replaced) on a scratch PostgreSQL database holding 20,000 completed calls with SIDs. The tasks
are `leads.tasks.create_lead_from_call(call_sid)`, one per call, queued from this process as
the service queues them (`calls.services.task_queue.task_queue_after_commit`: no success row is
saved for a lead task; same cluster name and SECRET_KEY as the cluster). After each step
the queue is drained (every call has its lead) and VmRSS is read from /proc/<pid>/status of the
cluster's worker processes: the first Q_WORKERS children of the sentinel (django-q2 forks the
workers before the monitor and the pusher). Growth = RSS after all tasks / RSS after FIRST.
Exit 1 if a lead is missing, a worker was replaced, or the queue does not drain.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

import common

FIRST = 1_000
STEP = 3_800  # five steps after the first
STOP_TIMEOUT = 60
WORKERS = 2
WEBHOOK_WORKERS = 1
TARGET = 1.10
CLUSTER_NAME = "bench-memory"


def calls_add(business, count):
    """`count` completed calls with SIDs, copied from one the ORM makes (`common.rows_copy`)."""
    from django.utils import timezone

    from calls.models import CallLog

    now = timezone.now()
    template = CallLog.objects.create(
        business=business, direction="outbound", from_number=business.phone_number,
        to_number="+14150000000", call_sid="CA-template", status="completed", ended_by="twilio",
        ended_at=now,
    )  # fmt: skip
    values = {
        "public_id": "gen_random_uuid()",
        "call_sid": "'CA' || md5(i::text)",
        "to_number": "'+1415' || (2000000 + i)",
    }
    common.rows_copy(template, first=1, last=count, values=values)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return sorted(int(p) for p in handle.read().split())
    except FileNotFoundError:
        return []


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dialing_sentinel(cluster_pid):
    """The sentinel of the cluster the lead tasks run in: the worker command also runs the
    webhooks' cluster, given WEBHOOK_WORKERS workers here so that its sentinel, with one child
    fewer (workers, monitor, pusher), tells them apart."""
    sentinels = [s for s in children(cluster_pid) if len(children(s)) == WORKERS + 2]
    if len(sentinels) != 1:
        raise RuntimeError(f"expected one sentinel of {WORKERS} workers, found {sentinels}")
    return sentinels[0]


def worker_pids(cluster_pid):
    return children(dialing_sentinel(cluster_pid))[:WORKERS]


def describe(cluster_pid):
    """(pid, VmRSS MiB, CPU seconds) of each child of the sentinel, in fork order."""
    ticks = os.sysconf("SC_CLK_TCK")
    rows = []
    for pid in children(dialing_sentinel(cluster_pid)):
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        rows.append((pid, round(rss_kb(pid) / 1024, 1), round(cpu, 1)))
    return rows


def enqueue(sids):
    from django.db import transaction

    from calls.services.task_queue import task_queue_after_commit
    from leads.tasks import create_lead_from_call

    for start in range(0, len(sids), 1000):
        with transaction.atomic():
            for sid in sids[start : start + 1000]:
                task_queue_after_commit(create_lead_from_call, sid)


def wait_for_leads(count, timeout):
    """Waits until `count` calls have their lead and the broker holds no task (the ORM broker
    deletes a task only when the monitor has saved its result); returns the seconds the queue
    stayed non-empty after the last lead, or None on timeout."""
    from django_q.brokers import get_broker

    from calls.models import CallLog

    broker = get_broker()
    deadline = time.monotonic() + timeout
    leads_at = None
    while time.monotonic() < deadline:
        if leads_at is None and CallLog.objects.filter(lead__isnull=False).count() >= count:
            leads_at = time.monotonic()
        if leads_at is not None and (broker.queue_size() or 0) + (broker.lock_size() or 0) == 0:
            return time.monotonic() - leads_at
        time.sleep(0.2)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=["orm", "redis"], default="orm")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--first", type=int, default=FIRST, help="tasks before the first reading")
    parser.add_argument("--step", type=int, default=STEP, help="tasks between readings")
    parser.add_argument("--smoke", action="store_true", help="300 tasks in steps of 100 (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.tasks, args.first, args.step = 300, 100, 100
    cluster_name = f"{CLUSTER_NAME}-{os.getpid()}"  # runs in parallel (CI) share no queue
    redis_url = common.REDIS_URL if args.broker == "redis" else ""
    url = common.fresh_database("memory")
    common.django_setup(url, REDIS_URL=redis_url, Q_CLUSTER_NAME=cluster_name)
    from calls.models import Business, CallLog
    from tests.e2e.live_stack import LiveStack

    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).delete(f"django_q:{cluster_name}:q")
    business = Business.objects.create(
        name="Memory",
        phone_number="+14155550401",
        window_start_hour=0,  # the bench runs at any hour
        window_end_hour=24,
    )
    calls_add(business, args.tasks)
    sids = list(CallLog.objects.order_by("pk").values_list("call_sid", flat=True))

    stack = LiveStack(
        database_url=url,
        redis_url=redis_url,
        workers=1,
        env={
            "SECRET_KEY": common.BASE_ENV["SECRET_KEY"],  # tasks are signed with it
            "Q_CLUSTER_NAME": cluster_name,
            "Q_WORKERS": str(WORKERS),
            "Q_WEBHOOK_WORKERS": str(WEBHOOK_WORKERS),
            "Q_RECYCLE": "0",
            "Q_MAX_RSS_KB": "0",
        },
        log_dir=common.log_dir(f"memory_{args.broker}"),
    )
    failures, rss = [], {}
    processes, stop_seconds, seconds, done, lag = [], None, 1.0, 0, {}
    stack.start()
    try:
        cluster_pid = stack.processes["worker0"].pid
        time.sleep(3)  # the sentinel forks its workers after start-up
        pids = worker_pids(cluster_pid)
        rss[0] = [rss_kb(p) for p in pids]
        # 1,000 first, then the rest in steps of STEP, reading RSS after each drained step: a
        # line that keeps rising is a leak, a step then a plateau is warm-up.
        steps = [sids[: args.first]] + [
            sids[n : n + args.step] for n in range(args.first, len(sids), args.step)
        ]
        started, done = time.monotonic(), 0
        for batch in steps:
            enqueue(batch)
            done += len(batch)
            lag[done] = wait_for_leads(done, timeout=300)
            if lag[done] is None:
                failures.append(f"the queue did not drain after {done} tasks")
                break
            time.sleep(0.5)
            rss[done] = [rss_kb(p) for p in pids]
        seconds = time.monotonic() - started
        if worker_pids(cluster_pid) != pids:
            failures.append(f"workers were replaced: {pids} -> {worker_pids(cluster_pid)}")
        processes = describe(cluster_pid)
        # SIGTERM to the whole group, as platforms stop a worker; how long it takes is reported.
        cluster = stack.processes["worker0"]
        stopping = time.monotonic()
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=STOP_TIMEOUT)
            stop_seconds = time.monotonic() - stopping
        except subprocess.TimeoutExpired:
            stop_seconds = None
            failures.append(f"the cluster did not stop within {STOP_TIMEOUT} s of SIGTERM")
    finally:
        stack.stop()  # whatever is left; the cluster's own stop was timed above

    common.heading("machine")
    print(common.machine())
    common.heading(f"worker memory, {args.broker} broker")
    print("sentinel's children (pid, VmRSS, CPU s):", processes)
    for count, values in rss.items():
        print(
            f"VmRSS after {count:>6} tasks: " + ", ".join(f"{kb / 1024:.1f} MiB" for kb in values)
        )
    print(f"{done} tasks drained in {seconds:.0f} s: {done / seconds:.0f} tasks/s")
    print(
        "queue empty after the last lead (monitor lag) per step, s: "
        + ", ".join(f"{v:.1f}" for v in lag.values() if v is not None)
    )
    stopped = f"{stop_seconds:.1f} s" if stop_seconds is not None else f"> {STOP_TIMEOUT} s"
    print(f"cluster stop after SIGTERM to its process group: {stopped}")
    if args.first in rss and len(sids) in rss:
        growth = max(b / a for a, b in zip(rss[args.first], rss[len(sids)], strict=True))
        verdict = "met" if growth <= TARGET else "MISSED"
        print(
            f"RSS growth {args.first} -> {len(sids)} tasks (worst worker): {growth:.3f} "
            f"(+{(growth - 1) * 100:.1f} %; target <= +10 %: {verdict})"
        )
    print("invariants:", "held" if not failures else "BROKEN: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
