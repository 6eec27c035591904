"""What choosing the caller number costs each claimed call, with a pool of 1,000 numbers, side by
side with a business that has no pool.

    .venv/bin/python bench/caller_numbers.py [--smoke] [--pool 1000 --calls 20 --runs 15]

In a scratch PostgreSQL database, two businesses with the same queue: one dials from its own
number, the other from a pool of POOL numbers over ten states (some used today, as in the
middle of a day). Each run queues CALLS due requests for one business, then times what a
dispatch does to them without Twilio: the claim (`business_claim`, which asks the pool once per
page) and each claimed call's `call_place` (Twilio's create patched to answer at once; the pool's
business chooses and counts a number in the dial stamp's transaction). Runs alternate between
the two businesses, each in a transaction that is rolled back, so every run sees the same rows.
Median per claimed call of RUNS runs each; the added milliseconds and the ratio are the pool's
cost. The choice alone (`caller_number_take`, counted, rolled back) is timed too, alternating
between the two businesses (without a pool it is two empty reads): on a shared, loaded machine
the difference of two whole dispatches drowns in noise, and this is the cost itself.
`--smoke` runs it at a tiny size (CI: the script must keep working; its figures mean nothing).
Exit 1 if an invariant breaks: a run that does not place every call, or a pool call sent from
a number outside the pool or sharing the callee's NPA-NXX.
"""

import argparse
import sys
import time
import uuid

import common

TARGET_MS = 1.0
# Ten states' area codes: the callees are in California (415), so 1 in 10 of the pool is local.
AREA_CODES = ["212", "310", "512", "305", "312", "206", "617", "404", "303", "602"]


class Rollback(Exception):
    pass


def in_rollback(work):
    from django.db import transaction

    try:
        with transaction.atomic():
            started = time.perf_counter()
            result = work()
            seconds = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return seconds, result


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=1000, help="numbers in the pool")
    parser.add_argument("--calls", type=int, default=20, help="calls claimed per run")
    parser.add_argument("--runs", type=int, default=25, help="runs per business (the median)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two runs (CI)")
    sizes = parser.parse_args()
    if sizes.smoke:
        sizes.pool, sizes.calls, sizes.runs = 30, 4, 2
    return sizes


def main():
    sizes = arguments()
    common.django_setup(
        common.fresh_database("caller_numbers"),
        # A token per call of a run: no wait for a calls-per-second token.
        TWILIO_CALLS_PER_SECOND=str(max(50, 2 * sizes.calls)),
    )
    from django.utils import timezone

    from calls import twilio_client
    from calls.models import Business, CallerNumber, CallLog, CallRequest
    from calls.services.caller_numbers import business_day, caller_number_take
    from calls.services.dial_tokens import dial_token_release, dial_token_take
    from calls.services.dispatch import business_claim
    from calls.services.placing import Placed, call_place
    from compliance.regions import number_place

    dial_token_release(token=dial_token_take(), sent=False)  # the tokens' rows, made once

    twilio_client.call_create = lambda **_: "CA" + uuid.uuid4().hex
    window = {"window_start_hour": 0, "window_end_hour": 24}  # the bench runs at any hour
    plain = Business.objects.create(
        name="No pool", phone_number="+14155550300", max_concurrent_calls=sizes.calls, **window
    )
    pooled = Business.objects.create(
        name="Pool", phone_number="+14155550301", max_concurrent_calls=sizes.calls, **window
    )
    today, _ = business_day(pooled)
    numbers = [
        f"+1{AREA_CODES[n % len(AREA_CODES)]}555{n // len(AREA_CODES):04d}"
        for n in range(sizes.pool)
    ]
    CallerNumber.objects.bulk_create(
        CallerNumber(
            business=pooled,
            number=number,
            region=number_place(number).region or "",
            counted_day=today if n % 3 else None,
            calls_on_day=n % 37 if n % 3 else 0,
        )
        for n, number in enumerate(numbers)
    )

    def dial(business, run):
        def work():
            CallRequest.objects.bulk_create(
                CallRequest(
                    business=business,
                    to_number=f"+1415558{run:02d}{n:02d}",
                    next_attempt_at=timezone.now(),
                )
                for n in range(sizes.calls)
            )
            ids = business_claim(business_id=business.pk)
            outcomes = [call_place(call_id=pk) for pk in ids]
            sent = list(CallLog.objects.filter(pk__in=ids).values_list("from_number", "to_number"))
            return outcomes, sent

        return in_rollback(work)

    times = {"no pool": [], "pool": []}
    failures = []
    for run in range(sizes.runs):
        for name, business in (("no pool", plain), ("pool", pooled)):
            seconds, (outcomes, sent) = dial(business, run)
            times[name].append(seconds / sizes.calls)
            if outcomes != [Placed.SENT] * sizes.calls:
                failures.append(f"{name}: placed {outcomes}")
            for from_number, to_number in sent:
                if name == "no pool" and from_number != plain.phone_number:
                    failures.append(f"no pool: sent from {from_number}")
                if name == "pool" and (
                    from_number not in numbers or from_number[:8] == to_number[:8]
                ):
                    failures.append(f"pool: {to_number} sent from {from_number}")

    takes = {"no pool": [], "pool": []}
    for _ in range(sizes.runs * sizes.calls * 2):  # alternating: both see the same load
        for name, business in (("no pool", plain), ("pool", pooled)):
            seconds, _ = in_rollback(
                lambda b=business: caller_number_take(business=b, to_number="+14155580123")
            )
            takes[name].append(seconds)

    common.heading("machine")
    print(common.machine())
    common.heading("caller number choice")
    plain_ms = common.median(times["no pool"]) * 1000
    pool_ms = common.median(times["pool"]) * 1000
    added = (
        common.median([p - n for p, n in zip(times["pool"], times["no pool"], strict=True)]) * 1000
    )
    verdict = "met" if added <= TARGET_MS else "MISSED"
    print(
        f"claim + place, per claimed call (median of {sizes.runs} runs of {sizes.calls} calls): "
        f"no pool {plain_ms:.2f} ms, pool of {sizes.pool} {pool_ms:.2f} ms"
    )
    print(
        f"pool / no pool = {pool_ms / plain_ms:.2f}; added (median of the paired runs' "
        f"differences) {added:.2f} ms per claimed call "
        f"(target <= {TARGET_MS:g} ms: {verdict})"
    )
    take = {name: common.median(t) * 1000 for name, t in takes.items()}
    paired = common.median([p - n for p, n in zip(takes["pool"], takes["no pool"], strict=True)])
    print(
        f"the choice alone (caller_number_take, median of {len(takes['pool'])} each): no pool "
        f"{take['no pool']:.2f} ms, pool of {sizes.pool} {take['pool']:.2f} ms; added, median "
        f"of the paired differences: {paired * 1000:.2f} ms (target <= {TARGET_MS:g} ms: "
        f"{'met' if paired * 1000 <= TARGET_MS else 'MISSED'})"
    )
    print(f"load average while measured: {open('/proc/loadavg').read().split()[0]}")
    print("invariants:", "held" if not failures else "BROKEN: " + "; ".join(sorted(set(failures))))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
