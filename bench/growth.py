"""Cleanup and dispatch as the tables grow: the cost must follow the work, not the table size.

    .venv/bin/python bench/growth.py

In a scratch PostgreSQL database, bulk-loaded with INSERT ... SELECT generate_series:
- cleanup: `calls.services.cleanup.cleanup_run()` with 100 orphans (outbound, `pending`, no SID,
  created an hour ago, each the live attempt of an active request) among 10,000 and then 1,000,000
  CallLogs (the rest completed calls with SIDs, ended days ago, over 10 businesses);
- dispatch: `calls.services.dispatch.business_claim(business_id=...)` (a dispatch's database
  work, no Twilio) for a business with cap 10 and a running campaign of 1,000 and then 100,000
  due queued requests, plus as many queued requests of the other businesses.
Each run happens in a transaction that is rolled back, so every run sees the same rows (and no
task is queued: on_commit never fires). Median of RUNS runs; ratio = large / small. The EXPLAIN
(ANALYZE) plans of the large case's queries are printed, slowest first.
Exit 1 if an invariant breaks: a run that does not fail the 100 orphans, or does not claim 10.
"""

import re
import sys
import time
from collections import defaultdict

import common

RUNS = 7
ORPHANS = 100
CAP = 10
TARGET = 1.5

CALLS_SQL = """
INSERT INTO calls_calllog (
    public_id, business_id, call_sid, direction, from_number, to_number, status,
    last_sequence_number, dial_started_at, duration_seconds, answered_by, error_code,
    error_message, ended_by, created_at, updated_at, answered_at, ended_at)
SELECT gen_random_uuid(), b.id, 'CA' || md5(i::text), 'outbound', b.phone_number,
       '+1415' || (2000000 + i %% 7000000), 'completed', 3, t, 6, '', '', '', 'twilio',
       t, t + interval '8 s', t + interval '2 s', t + interval '8 s'
FROM generate_series(%(first)s, %(last)s) AS i
JOIN (SELECT id, phone_number, row_number() OVER (ORDER BY id) - 1 AS n
      FROM calls_business WHERE name LIKE 'Growth %%') AS b ON b.n = i %% 10
CROSS JOIN LATERAL (SELECT now() - interval '2 days' - (i %% 7776000) * interval '1 s') AS s(t)
"""

ORPHANS_SQL = """
WITH r AS (
    INSERT INTO calls_callrequest (business_id, to_number, status, attempts, max_attempts,
                                   next_attempt_at, last_error, created_at, updated_at)
    SELECT %(business)s, '+1415' || (9000000 + i), 'active', 1, 3,
           now() - interval '1 hour', '', now() - interval '1 hour', now() - interval '1 hour'
    FROM generate_series(1, %(count)s) AS i
    RETURNING id, to_number)
INSERT INTO calls_calllog (
    public_id, business_id, request_id, direction, from_number, to_number, status,
    answered_by, error_code, error_message, ended_by, created_at, updated_at)
SELECT gen_random_uuid(), %(business)s, r.id, 'outbound', %(number)s, r.to_number,
       'pending', '', '', '', '', now() - interval '1 hour', now() - interval '1 hour'
FROM r
"""

REQUESTS_SQL = """
INSERT INTO calls_callrequest (business_id, campaign_id, to_number, status, attempts,
                               max_attempts, next_attempt_at, last_error, created_at, updated_at)
SELECT %(business)s, %(campaign)s, '+1415' || (3000000 + i), 'queued', 0, 3,
       now() - interval '1 hour' + i * interval '1 ms', '', now(), now()
FROM generate_series(%(first)s, %(last)s) AS i
"""


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


def measure(work, check):
    times, failures = [], []
    for _ in range(RUNS):
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


def main():
    common.django_setup(common.fresh_database("bench_growth"))
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
        if result.failed != ORPHANS:
            return f"cleanup failed {result.failed} orphans, not {ORPHANS}"

    def dispatch():
        return business_claim(business_id=target.pk)

    def check_dispatch(ids):
        if len(ids) != CAP:
            return f"dispatch claimed {len(ids)}, not {CAP}"

    results, failures, captured = {}, [], {}

    def add_requests(per_side, first=1):
        last = first + per_side - 1
        sql(REQUESTS_SQL, business=target.pk, campaign=campaign.pk, first=first, last=last)
        for business in businesses[2:]:  # as many again, spread over the other businesses
            sql(
                REQUESTS_SQL, business=business.pk, campaign=None, first=first,
                last=first + per_side // 8 - 1,
            )  # fmt: skip

    # Small: 10,000 CallLogs (100 orphans), then 1,000 due requests.
    sql(
        ORPHANS_SQL, business=orphan_business.pk, number=orphan_business.phone_number,
        count=ORPHANS,
    )  # fmt: skip
    sql(CALLS_SQL, first=1, last=10_000 - ORPHANS)
    analyze()
    results["cleanup small"], f = measure(cleanup, check_cleanup)
    failures += f
    captured["cleanup small"] = statements(cleanup)
    add_requests(1_000)
    analyze()
    results["dispatch small"], f = measure(dispatch, check_dispatch)
    failures += f
    captured["dispatch small"] = statements(dispatch)
    sql("DELETE FROM calls_callrequest WHERE status = 'queued'")

    # Large: 1,000,000 CallLogs, then 100,000 due requests.
    started = time.perf_counter()
    sql(CALLS_SQL, first=10_000 - ORPHANS + 1, last=1_000_000 - ORPHANS)
    analyze()
    load_seconds = time.perf_counter() - started
    results["cleanup large"], f = measure(cleanup, check_cleanup)
    failures += f
    captured["cleanup large"] = statements(cleanup)
    add_requests(100_000, first=2_000_000)
    analyze()
    results["dispatch large"], f = measure(dispatch, check_dispatch)
    failures += f
    captured["dispatch large"] = statements(dispatch)
    rows = CallLog.objects.count()

    for what in ("cleanup", "dispatch"):
        common.heading(f"EXPLAIN, {what}, large case (slowest statement first)")
        print("\n".join(plans(captured[f"{what} large"])))
    common.heading("machine")
    print(common.machine())
    common.heading("growth")
    print(f"CallLogs at the end: {rows}; 990,000 loaded in {load_seconds:.0f} s")
    for what in ("cleanup", "dispatch"):
        small, large = results[f"{what} small"], results[f"{what} large"]
        ratio = large / small
        verdict = "met" if ratio <= TARGET else "MISSED"
        sizes = "10k -> 1M CallLogs" if what == "cleanup" else "1k -> 100k queued requests"
        print(
            f"{what} ({sizes}): large / small = {ratio:.2f} (median of {RUNS}: "
            f"{small * 1000:.1f} ms -> {large * 1000:.1f} ms; target <= {TARGET}: {verdict})"
        )
        print("\n".join(growth_lines(captured[f"{what} small"], captured[f"{what} large"])))
    print("invariants:", "held" if not failures else "BROKEN: " + "; ".join(sorted(set(failures))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
