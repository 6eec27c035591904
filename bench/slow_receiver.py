"""One business's slow webhook receiver vs every other business's dialing.

    .venv/bin/python bench/slow_receiver.py [--broker orm|redis|both] [--rounds 10] [--pairs 2]
                                            [--smoke]

The queue drain of bench/queue_drain.py (five businesses, caps 2, 3, 5, 5, 10, every call
answered, web + qcluster + twilio_sim as real processes on PostgreSQL), plus a sixth business
(cap 5) dialing alongside, whose every settled request is a webhook message. Per broker, quiet
and trickle runs alternate (ABBA: quiet, trickle, trickle, quiet with the default two pairs):
- quiet: the sixth business has no webhook URL;
- trickle: its URL is a receiver on loopback that answers every delivery one byte a second,
  from the status line on, so that each delivery holds a worker for its whole deadline
  (WEBHOOK_TIMEOUT_SECONDS) and fails, and is retried: a steady backlog of deliveries for the
  whole drain.
Ratio = the five other businesses' drain (their last call's end - their first call's create,
from the simulator's record) with the trickle / without it, each summed over its runs; target
<= 1.05.
Exit 1 if an invariant breaks: a cap, calls per second, a number dialed twice, a call not
completed, a request not done, more deliveries at once than the webhooks' cluster has workers,
a delivery attempt longer than its deadline, or (trickle) no delivery attempted during the drain.
`--smoke` runs one pair of two rounds on the ORM broker (CI: the script must keep working).
"""

import argparse
import sys
import time

import common
import queue_drain

OTHER_CAPS = queue_drain.CAPS
HOOKED_CAP = 5
ROUNDS = 10
PAIRS = 2
WEBHOOK_TIMEOUT_SECONDS = 5
WEBHOOK_WORKERS = 2
TRICKLE_INTERVAL = 1.0
TARGET = 1.05
ENV = {
    "WEBHOOK_ALLOW_HTTP": "true",
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_TIMEOUT_SECONDS": str(WEBHOOK_TIMEOUT_SECONDS),
    "Q_WEBHOOK_WORKERS": str(WEBHOOK_WORKERS),
}


def max_overlap(intervals):
    """The most intervals (start, end) open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def run(broker, rounds, trickle):
    from django.db.models import Max, Min

    from calls.models import CallLog
    from tests.webhook_receiver import TricklingReceiver
    from webhooks.models import WebhookAttempt

    receiver = TricklingReceiver(interval=TRICKLE_INTERVAL) if trickle else None

    def hook(businesses, stack):
        if receiver:
            hooked = businesses[-1]
            hooked.webhook_url = receiver.url
            hooked.save()

    try:
        businesses, stats, calls, failures, wall = queue_drain.drain(
            broker,
            rounds=rounds,
            caps=[*OTHER_CAPS, HOOKED_CAP],
            database="slow_receiver",
            env=ENV,
            prepare=hook,
        )
    finally:
        if receiver:
            receiver.close()
    everyone = queue_drain.analyse(businesses, stats, calls, failures, wall)
    others = businesses[:-1]
    numbers = {b.phone_number for b in others}
    result = queue_drain.analyse(
        others, stats, [c for c in calls if c["from"] in numbers], [], wall
    )
    attempts = [
        (a.at.timestamp(), a.at.timestamp() + a.duration_ms / 1000, a.error)
        for a in WebhookAttempt.objects.all()
    ]
    # The others' drain on the service's clock (the simulator's counts from its own start).
    window = CallLog.objects.filter(business__in=others).aggregate(
        first=Min("dial_started_at"), last=Max("ended_at")
    )
    during = [
        a
        for a in attempts
        if window["last"] and window["first"].timestamp() <= a[0] <= window["last"].timestamp()
    ]
    result.update(
        failures=everyone["failures"],
        attempts=len(attempts),
        attempts_during=len(during),
        cut=sum(1 for a in attempts if a[2].startswith("No answer within")),
        longest=max((end - start for start, end, _ in attempts), default=0.0),
        at_once=max_overlap([(start, end) for start, end, _ in attempts]),
        connections=receiver.connections if receiver else 0,
    )
    if result["at_once"] > WEBHOOK_WORKERS:
        failures.append(f"{result['at_once']} deliveries at once, more than {WEBHOOK_WORKERS}")
    if result["longest"] > WEBHOOK_TIMEOUT_SECONDS + 0.5:
        failures.append(f"a delivery attempt took {result['longest']:.1f} s")
    if trickle and not during:
        failures.append("no delivery was attempted during the drain")
    return result


def run_order(pairs):
    """quiet (False) and trickle (True) runs, ABBA: a load that drifts during the benchmark (the
    machine is shared) weighs on both alike."""
    order = []
    for n in range(pairs):
        order += [False, True] if n % 2 == 0 else [True, False]
    return order


def report(broker, rounds, runs):
    common.heading(f"slow receiver, {broker} broker ({rounds} rounds, {len(runs)} runs)")
    for trickle, r in runs:
        t = r["turnaround"]
        p95 = common.percentile(t, 95) if t else 0.0
        print(
            f"{'trickle' if trickle else 'quiet':>7}: other businesses' drain {r['drain']:.1f} s "
            f"(ideal {r['ideal']:.1f} s, x {r['drain'] / r['ideal']:.3f}); their slot "
            f"turnaround p95 {p95:.3f} s"
        )
        if trickle:
            print(
                f"         {r['attempts']} delivery attempts ({r['attempts_during']} during the "
                f"drain, {r['cut']} cut at the {WEBHOOK_TIMEOUT_SECONDS} s deadline), longest "
                f"{r['longest']:.2f} s, at most {r['at_once']} at once ({WEBHOOK_WORKERS} "
                f"delivery workers); receiver connections {r['connections']}"
            )
    quiet = sum(r["drain"] for trickle, r in runs if not trickle)
    trickled = sum(r["drain"] for trickle, r in runs if trickle)
    ratio = trickled / quiet
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(
        f"other businesses' drain, trickle / quiet (summed): {ratio:.3f} "
        f"(target <= {TARGET}: {verdict})"
    )
    failures = [f for _, r in runs for f in r["failures"]]
    print("invariants:", "held" if not failures else "BROKEN: " + "; ".join(failures))
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="calls per slot")
    parser.add_argument("--pairs", type=int, default=PAIRS, help="quiet + trickle runs, ABBA")
    parser.add_argument("--smoke", action="store_true", help="one pair, two rounds, ORM (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.broker, args.rounds, args.pairs = "orm", 2, 1
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    common.django_setup(common.database_url("slow_receiver"))
    results = {}
    for broker in brokers:
        started = time.monotonic()
        order = run_order(args.pairs)
        results[broker] = [(trickle, run(broker, args.rounds, trickle)) for trickle in order]
        print(f"{broker}: {len(order)} runs in {time.monotonic() - started:.0f} s", flush=True)
    common.heading("machine")
    print(common.machine())
    failed = [report(broker, args.rounds, runs) for broker, runs in results.items()]
    return 1 if any(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
