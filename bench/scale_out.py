"""Scale-out on one machine: businesses on shared subaccounts, several worker processes; and
the fair share of one shared account.

Scale-out: 12 businesses (cap 5 each) on 4 subaccounts of 2 calls per second each (3 businesses
an account), made at the local Twilio by `twilio_subaccount_create`; 15 calls per business (180);
three worker processes (`qcluster`, as if on three hosts) and a web of two gunicorn workers on one
PostgreSQL and the Redis broker. Sized for two shared cores, not for the issue's 4,000 calls.

Fairness: two subaccounts of 4 calls per second, side by side in one stack and one run. On one,
ten small businesses of 10 calls each; on the other, the same ten small ones and one big business
with 10,000 queued (cap 40, enough to take every token alone), already being dialed when the
small ones are queued. The small ones' wait from queue to create, p95, on the shared account
against the one without the big business: target <= 1.5.

    .venv/bin/python bench/scale_out.py [--part scale|fairness|both] [--rounds 3] [--workers 3]
                                        [--smoke] [--issue-size]

`--issue-size` runs the scale part at the issue's own size instead: 200 businesses on 20
subaccounts of 2 calls per second (10 an account), 4,000 calls, three worker processes and a web
of two; on two shared cores it measures the machine as much as the service.

From the simulator's record (Twilio's side of the wire, one clock): creates per second over the
run (first create to last create) against the accounts' total calls per second; each account's
most creates in any sliding second against its rate; each business's most live calls against its
cap; a small call's wait is its create's moment less its request's created_at (one machine's clock).
Exit 1 if an invariant breaks; the targets are reported, never asserted.
"""

import argparse
import json
import sys
import time

import common
import queue_drain

ACCOUNTS = 4
PER_ACCOUNT = 3
ACCOUNT_CPS = 2
CAP = 5
ROUNDS = 3  # calls per slot: 15 per business
TARGET = 0.9

FAIR_CPS = 4
SMALL_BUSINESSES = 10
SMALL_CALLS = 10
SMALL_CAP = 10
BIG_CALLS = 10_000
BIG_CAP = 40
FAIR_TARGET = 1.5


def run(*, rounds, workers, broker, accounts=ACCOUNTS, per_account=PER_ACCOUNT):
    from calls.models import Business
    from twilio_accounts.models import TwilioAccount

    account_of = {}  # a business's number: its account's SID

    def subaccounts(businesses, stack):
        groups = [businesses[n * per_account : (n + 1) * per_account] for n in range(accounts)]
        outputs = stack.manage_each(*(subaccount_create(group[0], ACCOUNT_CPS) for group in groups))
        for group, out in zip(groups, outputs, strict=True):
            sid = out.strip().splitlines()[-1]
            account = TwilioAccount.objects.get(account_sid=sid)
            Business.objects.filter(pk__in=[b.pk for b in group]).update(twilio_account=account)
            for business in group:
                account_of[business.phone_number] = sid

    businesses, stats, calls, failures, wall = queue_drain.drain(
        broker,
        rounds=rounds,
        caps=[CAP] * (accounts * per_account),
        database="scale_out",
        # The main account's rate is not used here: every business is on a subaccount.
        env={"TWILIO_CALLS_PER_SECOND": "1", "Q_WORKERS": "2"},
        prepare=subaccounts,
        workers=workers,
    )
    for business in businesses:
        most = stats["max_live_by_from"].get(business.phone_number, 0)
        if most > CAP:
            failures.append(f"cap {CAP} of {business.phone_number} broken: {most}")
    by_account = stats["max_creates_per_second_by_account"]
    for sid in set(account_of.values()):
        if by_account.get(sid, 0) > ACCOUNT_CPS:
            failures.append(f"{sid} made {by_account[sid]} creates in one second")
    wrong = [c["sid"] for c in calls if c["account_sid"] != account_of.get(c["from"])]
    if wrong:
        failures.append(f"{len(wrong)} calls under another account, e.g. {wrong[:3]}")
    moments = sorted(c["created_at"] for c in calls)
    span = moments[-1] - moments[0] if len(moments) > 1 else float("nan")
    rate = (len(moments) - 1) / span if span else float("nan")
    return {
        "calls": len(calls),
        "span": span,
        "rate": rate,
        "total_cps": accounts * ACCOUNT_CPS,
        "max_by_account": {sid: by_account.get(sid, 0) for sid in sorted(set(account_of.values()))},
        "max_live": max(stats["max_live_by_from"].values(), default=0),
        "wall": wall,
        "failures": failures,
    }


def subaccount_create(business, calls_per_second) -> list[str]:
    """The command that opens a subaccount for `business` (LiveStack.manage_each)."""
    return [
        "twilio_subaccount_create",
        "--business",
        str(business.pk),
        "--calls-per-second",
        str(calls_per_second),
    ]


def report(r, *, workers, broker):
    common.heading(f"scale-out, {broker} broker, {workers} worker processes")
    ratio = r["rate"] / r["total_cps"]
    print(
        f"calls: {r['calls']} over {r['span']:.1f} s of creates: {r['rate']:.2f} creates/s, "
        f"{ratio:.3f} x the accounts' total {r['total_cps']} calls per second "
        f"(target >= {TARGET}: {'met' if ratio >= TARGET else 'MISSED'})"
    )
    print(f"most creates in one second, per account (rate {ACCOUNT_CPS}): {r['max_by_account']}")
    print(f"most live calls of one business (cap {CAP}): {r['max_live']}")
    print("invariants:", "held" if not r["failures"] else "BROKEN: " + "; ".join(r["failures"]))


def fairness(*, small_businesses, small_calls, big_calls, workers, broker):
    """The small businesses' waits (sim seconds), alone on an account and beside the big one."""
    from django.db import connections

    from calls.models import Business, CallRequest
    from tests.e2e.live_stack import LiveStack
    from twilio_accounts.models import TwilioAccount

    connections.close_all()
    url = common.fresh_database("scale_out")  # this process's database, made afresh

    def business(name, number, cap):
        return Business.objects.create(
            name=name,
            phone_number=number,
            max_concurrent_calls=cap,
            max_attempts=1,
            window_start_hour=0,  # the bench runs at any hour
            window_end_hour=24,
        )

    big = business("Big", "+14155559000", BIG_CAP)
    alone = [
        business(f"Alone {n}", f"+1415555{9100 + n:04d}", SMALL_CAP)
        for n in range(small_businesses)
    ]
    beside = [
        business(f"Beside {n}", f"+1415555{9200 + n:04d}", SMALL_CAP)
        for n in range(small_businesses)
    ]
    stack = LiveStack(
        database_url=url,
        redis_url=common.REDIS_URL if broker == "redis" else "",
        workers=0,
        env={
            **queue_drain.SETTINGS,
            "TWILIO_CALLS_PER_SECOND": "1",
            "Q_WORKERS": "2",
            # Short, so the stack stops on SIGTERM within its 15 s while the big queue is full.
            "DISPATCH_BUDGET_SECONDS": "5",
        },
        log_dir=common.log_dir(f"fairness_{broker}"),
    )
    stack.start()
    failures = []
    queued_at = {}  # callee number: the simulator's moment its request was queued
    try:
        stack.sim.configure(
            ring_seconds=queue_drain.RING_SECONDS,
            call_seconds=queue_drain.CALL_SECONDS,
            cps=queue_drain.SIM_CPS,
            list_delay=0.5,
        )
        sids = {}
        groups = (alone, [big, *beside])
        outputs = stack.manage_each(*(subaccount_create(group[0], FAIR_CPS) for group in groups))
        for group, out in zip(groups, outputs, strict=True):
            sid = out.strip().splitlines()[-1]
            account = TwilioAccount.objects.get(account_sid=sid)
            Business.objects.filter(pk__in=[b.pk for b in group]).update(twilio_account=account)
            sids[sid] = group
        for n in range(workers):
            stack.start_worker(n)
        big_file = common.log_dir(f"fairness_{broker}") / "big.csv"
        big_file.write_text(
            "".join(f"+1415{700 + n // 9000:03d}{1000 + n % 9000:04d}\n" for n in range(big_calls))
        )
        stack.manage("enqueue_calls", "--business", str(big.pk), "--file", str(big_file))
        # The small ones arrive while the big one's queue is being dialed at its account's rate.
        deadline = time.monotonic() + 120
        while sum(1 for c in stack.sim.calls() if c["from"] == big.phone_number) < 2 * FAIR_CPS:
            if time.monotonic() > deadline:
                failures.append("the big business was not dialing within 120 s")
                break
            time.sleep(0.5)
        # Alternately, so the two groups arrive alike.
        for n in range(small_businesses):
            for prefix, group in (("+14158", alone), ("+14159", beside)):
                # Suffixes 1000..: never the simulator's special endings; every call completes.
                numbers = [f"{prefix}{n:02d}{1000 + i:04d}" for i in range(small_calls)]
                stack.manage("enqueue_calls", "--business", str(group[n].pk), *numbers)
                queued_at.update(dict.fromkeys(numbers))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            small = [c for c in stack.sim.calls() if c["to"] in queued_at]
            if len(small) >= len(queued_at):
                break
            time.sleep(1)
        else:
            failures.append(
                f"small calls not all created in 300 s: {len(small)} of {len(queued_at)}"
            )
        stats, calls = stack.sim.stats(), stack.sim.calls()
        # The simulator's clock is real seconds since its start: a request's queue moment on it.
        offset = time.time() - stack.sim.now()
        for number, created_at in CallRequest.objects.filter(to_number__in=queued_at).values_list(
            "to_number", "created_at"
        ):
            queued_at[number] = created_at.timestamp() - offset
        (stack.log_dir / "sim_calls.json").write_text(json.dumps(calls))
    finally:
        stuck = stack.stop()
    if stuck:
        failures.append(f"did not stop on SIGTERM: {stuck}")
    for sid, most in stats["max_creates_per_second_by_account"].items():
        if sid in sids and most > FAIR_CPS:
            failures.append(f"{sid} made {most} creates in one second")
    caps = {b.phone_number: b.max_concurrent_calls for b in [big, *alone, *beside]}
    for number, most in stats["max_live_by_from"].items():
        if most > caps.get(number, 0):
            failures.append(f"cap {caps.get(number)} of {number} broken: {most}")
    alone_numbers = {b.phone_number for b in alone}
    waits = {"alone": [], "beside": []}
    for call in calls:
        if call["to"] in queued_at:
            group = "alone" if call["from"] in alone_numbers else "beside"
            waits[group].append(call["created_at"] - queued_at[call["to"]])
    big_creates = sum(1 for c in calls if c["from"] == big.phone_number)
    return {"waits": waits, "big_creates": big_creates, "failures": failures}


def fairness_report(r, *, small_businesses, small_calls, big_calls, broker):
    common.heading(f"fairness, {broker} broker, one account of {FAIR_CPS} calls per second")
    p95 = {group: common.percentile(waits, 95) for group, waits in r["waits"].items()}
    p50 = {group: common.percentile(waits, 50) for group, waits in r["waits"].items()}
    ratio = p95["beside"] / p95["alone"] if p95["alone"] else float("nan")
    print(
        f"{small_businesses} small businesses of {small_calls} calls, alone on an account: "
        f"wait from queue to create p50 {p50['alone']:.1f} s, p95 {p95['alone']:.1f} s"
    )
    print(
        f"the same beside one business of {big_calls:,} queued (cap {BIG_CAP}; "
        f"{r['big_creates']} of its calls created meanwhile): p50 {p50['beside']:.1f} s, "
        f"p95 {p95['beside']:.1f} s"
    )
    print(
        f"p95 beside / alone: {ratio:.2f} (target <= {FAIR_TARGET}: "
        f"{'met' if ratio <= FAIR_TARGET else 'MISSED'})"
    )
    print("invariants:", "held" if not r["failures"] else "BROKEN: " + "; ".join(r["failures"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="calls per slot")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--broker", choices=["orm", "redis"], default="redis")
    parser.add_argument("--part", choices=["scale", "fairness", "both"], default="both")
    parser.add_argument("--smoke", action="store_true", help="small sizes, two workers (CI)")
    parser.add_argument(
        "--issue-size",
        action="store_true",
        help="the scale part at issue 22's size: 200 businesses on 20 subaccounts, 4,000 calls",
    )
    args = parser.parse_args()
    sizes = {
        "small_businesses": SMALL_BUSINESSES,
        "small_calls": SMALL_CALLS,
        "big_calls": BIG_CALLS,
    }
    if args.smoke:
        args.rounds, args.workers = 1, 2
        sizes = {"small_businesses": 3, "small_calls": 4, "big_calls": 200}
    common.django_setup(common.database_url("scale_out"))
    failed = False
    if args.part in ("scale", "both"):
        shape = {"accounts": 20, "per_account": 10} if args.issue_size else {}
        if args.issue_size:
            args.rounds = 4  # 4,000 calls: 200 businesses x cap 5 x 4
        result = run(rounds=args.rounds, workers=args.workers, broker=args.broker, **shape)
        common.heading("machine")
        print(common.machine())
        report(result, workers=args.workers, broker=args.broker)
        failed = failed or bool(result["failures"])
    if args.part in ("fairness", "both"):
        fair = fairness(workers=args.workers, broker=args.broker, **sizes)
        common.heading("machine")
        print(common.machine())
        fairness_report(fair, broker=args.broker, **sizes)
        failed = failed or bool(fair["failures"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
