"""Cleanup and dispatch as the tables grow: the cost must follow the work, not the table size.

    .venv/bin/python bench/growth.py [--smoke] [--small-calls 10000 --large-calls 1000000 ...]

In a scratch PostgreSQL database, bulk-loaded with INSERT ... SELECT generate_series, each row
a copy of one the ORM made (`common.rows_copy`: only the columns that vary are written out, so
a column added to a model is filled with its default and the bench keeps running):
- cleanup: `calls.services.cleanup.cleanup_run()` with 100 orphans (outbound, `pending`, no SID,
  created an hour ago, each the live attempt of an active request) among 10,000 and then 1,000,000
  CallLogs (the rest completed calls with SIDs, ended days ago, over 10 businesses);
- dispatch: `calls.services.dispatch.business_claim(business_id=...)` (a dispatch's database
  work, no Twilio) for a business with cap 10 and a running campaign of 1,000 and then 100,000
  due queued requests, plus as many queued requests of the other businesses.
Each run happens in a transaction that is rolled back, so every run sees the same rows (and no
task is queued: on_commit never fires). Median of RUNS runs; ratio = large / small. The EXPLAIN
(ANALYZE) plans of the large case's queries are printed, slowest first. `--smoke` runs every
step at a tiny size (CI: the script must keep working; its figures mean nothing there).
Exit 1 if an invariant breaks: a run that does not fail the 100 orphans, or does not claim 10.
"""

import argparse
import re
import sys
import time
from collections import defaultdict

import common

RUNS = 7
ORPHANS = 100
CAP = 10
TARGET = 1.5

# Completed calls over the ten businesses, ended days ago: the history the cleanup must not read.
CALL_VALUES = {
    "public_id": "gen_random_uuid()",
    "business_id": "b.id",
    "call_sid": "'CA' || md5(i::text)",
    "from_number": "b.phone_number",
    "to_number": "'+1415' || (2000000 + i %% 7000000)",
    "created_at": "s.t",
    "dial_started_at": "s.t",
    "answered_at": "s.t + interval '2 s'",
    "updated_at": "s.t + interval '8 s'",
    "ended_at": "s.t + interval '8 s'",
}
CALL_JOINS = """
JOIN (SELECT id, phone_number, row_number() OVER (ORDER BY id) - 1 AS n
      FROM calls_business WHERE name LIKE 'Growth %%') AS b ON b.n = i %% 10
CROSS JOIN LATERAL (SELECT now() - interval '2 days' - (i %% 7776000) * interval '1 s') AS s(t)
"""


def calls_add(business, first, last):
    """Completed calls numbered first..last, copied from one the ORM makes."""
    from datetime import timedelta

    from django.utils import timezone

    from calls.models import CallLog

    ended = timezone.now() - timedelta(days=2)
    template = CallLog.objects.create(
        business=business, direction="outbound", from_number=business.phone_number,
        to_number="+14150000000", call_sid="CA-template", status="completed",
        last_sequence_number=3, dial_started_at=ended, duration_seconds=6, ended_by="twilio",
        answered_at=ended, ended_at=ended,
    )  # fmt: skip
    common.rows_copy(template, first=first, last=last, values=CALL_VALUES, joins=CALL_JOINS)


def orphans_add(business, count):
    """`count` outbound calls never sent (pending, no SID, an hour old), each the live attempt
    of an active request: what the cleanup fails."""
    from datetime import timedelta

    from django.utils import timezone

    from calls.models import CallLog, CallRequest

    hour_ago = timezone.now() - timedelta(hours=1)
    numbers = [f"+1415{9000000 + i}" for i in range(count)]
    requests = CallRequest.objects.bulk_create(
        CallRequest(business=business, to_number=n, status="active", attempts=1,
                    max_attempts=3, next_attempt_at=hour_ago)
        for n in numbers
    )  # fmt: skip
    calls = CallLog.objects.bulk_create(
        CallLog(business=business, request=r, direction="outbound",
                from_number=business.phone_number, to_number=r.to_number, status="pending")
        for r in requests
    )  # fmt: skip
    CallRequest.objects.filter(pk__in=[r.pk for r in requests]).update(
        created_at=hour_ago, updated_at=hour_ago
    )
    CallLog.objects.filter(pk__in=[c.pk for c in calls]).update(
        created_at=hour_ago, updated_at=hour_ago
    )


def requests_add(business, campaign, first, last):
    """Due queued requests numbered first..last, copied from one the ORM makes."""

    from django.utils import timezone

    from calls.models import CallRequest

    template = CallRequest.objects.create(
        business=business, campaign=campaign, to_number="+14150000001", status="queued",
        attempts=0, max_attempts=3, next_attempt_at=timezone.now(),
    )  # fmt: skip
    values = {
        "to_number": "'+1415' || (3000000 + i)",
        "next_attempt_at": "now() - interval '1 hour' + i * interval '1 ms'",
    }
    common.rows_copy(template, first=first, last=last, values=values)


class Rollback(Exception):
    pass


def timed_in_rollback(work, capture=False):
    """Runs `work()` in a transaction that is rolled back; returns (seconds, result, queries)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    queries = []
    try:
        with transaction.atomic():
            if capture:
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    result = work()
                    seconds = time.perf_counter() - started
                queries = captured.captured_queries
            else:
                started = time.perf_counter()
                result = work()
                seconds = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return seconds, result, queries


def sql(statement, **params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def analyze():
    # What autovacuum would have done to tables grown this big (statistics, visibility map).
    sql("VACUUM ANALYZE calls_calllog")
    sql("VACUUM ANALYZE calls_callrequest")


def measure(work, check, runs):
    times, failures = [], []
    for _ in range(runs):
        seconds, result, _ = timed_in_rollback(work)
        times.append(seconds)
        problem = check(result)
        if problem:
            failures.append(problem)
    return common.median(times), failures


def statements(work):
    """One run's statements grouped by shape (digits folded): {shape: [count, seconds, example]}."""
    _, _, queries = timed_in_rollback(work, capture=True)
    groups = defaultdict(lambda: [0, 0.0, None])
    for query in queries:
        statement = query["sql"]
        if statement in ("BEGIN", "COMMIT") or statement.startswith(("SAVEPOINT", "RELEASE")):
            continue
        group = groups[re.sub(r"\d+", "#", statement)]
        group[0] += 1
        group[1] += float(query["time"])
        group[2] = group[2] or statement
    return groups


def growth_lines(small, large, top=3):
    """The statements whose time grew most from the small case to the large one."""
    grown = sorted(large, key=lambda k: -(large[k][1] - small.get(k, [0, 0.0])[1]))[:top]
    return [
        f"  {small.get(k, [0, 0.0])[1] * 1000:7.1f} ms -> {large[k][1] * 1000:7.1f} ms "
        f"({large[k][0]} x) {large[k][2][:110]}"
        for k in grown
    ]


def plans(groups):
    """EXPLAIN ANALYZE of each statement shape, slowest first (writes: EXPLAIN only)."""
    from django.db import connection

    lines = []
    for count, total, statement in sorted(groups.values(), key=lambda g: -g[1]):
        explain = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "
        if not statement.lstrip().upper().startswith("SELECT"):
            explain = "EXPLAIN (COSTS OFF) "  # writes are planned, not run
        with connection.cursor() as cursor:  # autocommit: the rows as they were before the run
            cursor.execute(explain + statement)
            plan = [row[0] for row in cursor.fetchall()]
        lines.append(f"-- {count} x, {total * 1000:.1f} ms in all: {statement[:160]}")
        lines += [f"   {line}" for line in plan]
    return lines


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-calls", type=int, default=10_000)
    parser.add_argument("--large-calls", type=int, default=1_000_000)
    parser.add_argument("--small-requests", type=int, default=1_000)
    parser.add_argument("--large-requests", type=int, default=100_000)
    parser.add_argument("--orphans", type=int, default=ORPHANS)
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per case (the median)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two runs (CI)")
    sizes = parser.parse_args()
    if sizes.smoke:
        sizes.small_calls, sizes.large_calls = 500, 2_000
        sizes.small_requests, sizes.large_requests = 80, 400
        sizes.orphans, sizes.runs = 10, 2
    return sizes


def count(n):
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def main():
    sizes = arguments()
    common.django_setup(common.fresh_database("growth"))
    from calls.models import Business, CallLog, Campaign
    from calls.services.cleanup import cleanup_run
    from calls.services.dispatch import business_claim

    businesses = [
        Business.objects.create(
            name=f"Growth {n}",
            phone_number=f"+1415555{300 + n:04d}",
            max_concurrent_calls=CAP,
            window_start_hour=0,  # the bench runs at any hour
            window_end_hour=24,
        )
        for n in range(10)
    ]
    orphan_business = businesses[0]
    target = businesses[1]
    campaign = Campaign.objects.create(business=target, name="growth")

    def cleanup():
        return cleanup_run()

    def check_cleanup(result):
        if result.failed != sizes.orphans:
            return f"cleanup failed {result.failed} orphans, not {sizes.orphans}"

    def dispatch():
        return business_claim(business_id=target.pk)

    def check_dispatch(ids):
        if len(ids) != CAP:
            return f"dispatch claimed {len(ids)}, not {CAP}"

    results, failures, captured = {}, [], {}

    def add_requests(per_side, first=1):
        requests_add(target, campaign, first, first + per_side - 1)
        for business in businesses[2:]:  # as many again, spread over the other businesses
            requests_add(business, None, first, first + per_side // 8 - 1)

    # Small: 10,000 CallLogs (100 orphans), then 1,000 due requests.
    orphans_add(orphan_business, sizes.orphans)
    calls_add(orphan_business, 1, sizes.small_calls - sizes.orphans)
    analyze()
    results["cleanup small"], f = measure(cleanup, check_cleanup, sizes.runs)
    failures += f
    captured["cleanup small"] = statements(cleanup)
    add_requests(sizes.small_requests)
    analyze()
    results["dispatch small"], f = measure(dispatch, check_dispatch, sizes.runs)
    failures += f
    captured["dispatch small"] = statements(dispatch)
    sql("DELETE FROM calls_callrequest WHERE status = 'queued'")

    # Large: 1,000,000 CallLogs, then 100,000 due requests.
    started = time.perf_counter()
    calls_add(
        orphan_business, sizes.small_calls - sizes.orphans + 1, sizes.large_calls - sizes.orphans
    )
    analyze()
    load_seconds = time.perf_counter() - started
    results["cleanup large"], f = measure(cleanup, check_cleanup, sizes.runs)
    failures += f
    captured["cleanup large"] = statements(cleanup)
    add_requests(sizes.large_requests, first=2_000_000)
    analyze()
    results["dispatch large"], f = measure(dispatch, check_dispatch, sizes.runs)
    failures += f
    captured["dispatch large"] = statements(dispatch)
    rows = CallLog.objects.count()

    for what in ("cleanup", "dispatch"):
        common.heading(f"EXPLAIN, {what}, large case (slowest statement first)")
        print("\n".join(plans(captured[f"{what} large"])))
    common.heading("machine")
    print(common.machine())
    common.heading("growth")
    loaded = sizes.large_calls - sizes.small_calls
    print(f"CallLogs at the end: {rows}; {loaded:,} loaded in {load_seconds:.0f} s")
    for what in ("cleanup", "dispatch"):
        small, large = results[f"{what} small"], results[f"{what} large"]
        ratio = large / small
        verdict = "met" if ratio <= TARGET else "MISSED"
        if what == "cleanup":
            grown = f"{count(sizes.small_calls)} -> {count(sizes.large_calls)} CallLogs"
        else:
            grown = (
                f"{count(sizes.small_requests)} -> {count(sizes.large_requests)} queued requests"
            )
        print(
            f"{what} ({grown}): large / small = {ratio:.2f} (median of {sizes.runs}: "
            f"{small * 1000:.1f} ms -> {large * 1000:.1f} ms; target <= {TARGET}: {verdict})"
        )
        print("\n".join(growth_lines(captured[f"{what} small"], captured[f"{what} large"])))
    print("invariants:", "held" if not failures else "BROKEN: " + "; ".join(sorted(set(failures))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
