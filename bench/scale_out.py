"""Scale-out on one machine: businesses on shared subaccounts, several worker processes.

12 businesses (cap 5 each) on 4 subaccounts of 2 calls per second each (3 businesses an
account), made at the local Twilio by `twilio_subaccount_create`; 15 calls per business (180);
three worker processes (`qcluster`, as if on three hosts) and a web of two gunicorn workers on one
PostgreSQL and the Redis broker. Sized for two shared cores, not for the issue's 4,000 calls.

    .venv/bin/python bench/scale_out.py [--rounds 3] [--workers 3] [--smoke]

From the simulator's record (Twilio's side of the wire): creates per second over the run
(first create to last create) against the accounts' total calls per second; each account's most
creates in any sliding second against its rate; each business's most live calls against its cap.
Exit 1 if an invariant breaks; the throughput target (>= 0.9 x the total rate) is reported.
"""

import argparse
import sys

import common
import queue_drain

ACCOUNTS = 4
PER_ACCOUNT = 3
ACCOUNT_CPS = 2
CAP = 5
ROUNDS = 3  # calls per slot: 15 per business
TARGET = 0.9


def run(*, rounds, workers, broker):
    from calls.models import Business
    from twilio_accounts.models import TwilioAccount

    accounts = {}

    def subaccounts(businesses, stack):
        for n in range(ACCOUNTS):
            group = businesses[n * PER_ACCOUNT : (n + 1) * PER_ACCOUNT]
            out = stack.manage(
                "twilio_subaccount_create",
                "--business",
                str(group[0].pk),
                "--calls-per-second",
                str(ACCOUNT_CPS),
            )
            sid = out.strip().splitlines()[-1]
            account = TwilioAccount.objects.get(account_sid=sid)
            Business.objects.filter(pk__in=[b.pk for b in group]).update(twilio_account=account)
            for business in group:
                accounts[business.phone_number] = sid

    businesses, stats, calls, failures, wall = queue_drain.drain(
        broker,
        rounds=rounds,
        caps=[CAP] * (ACCOUNTS * PER_ACCOUNT),
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
    for sid in set(accounts.values()):
        if by_account.get(sid, 0) > ACCOUNT_CPS:
            failures.append(f"{sid} made {by_account[sid]} creates in one second")
    wrong = [c["sid"] for c in calls if c["account_sid"] != accounts.get(c["from"])]
    if wrong:
        failures.append(f"{len(wrong)} calls under another account, e.g. {wrong[:3]}")
    moments = sorted(c["created_at"] for c in calls)
    span = moments[-1] - moments[0] if len(moments) > 1 else float("nan")
    rate = (len(moments) - 1) / span if span else float("nan")
    return {
        "calls": len(calls),
        "span": span,
        "rate": rate,
        "total_cps": ACCOUNTS * ACCOUNT_CPS,
        "max_by_account": {sid: by_account.get(sid, 0) for sid in sorted(set(accounts.values()))},
        "max_live": max(stats["max_live_by_from"].values(), default=0),
        "wall": wall,
        "failures": failures,
    }


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="calls per slot")
    parser.add_argument("--workers", type=int, default=3, help="worker processes")
    parser.add_argument("--broker", choices=["orm", "redis"], default="redis")
    parser.add_argument("--smoke", action="store_true", help="one round, two workers (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.workers = 1, 2
    common.django_setup(common.database_url("scale_out"))
    result = run(rounds=args.rounds, workers=args.workers, broker=args.broker)
    common.heading("machine")
    print(common.machine())
    report(result, workers=args.workers, broker=args.broker)
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
