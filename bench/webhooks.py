"""Webhook cost: signed status callbacks through gunicorn against a one-UPDATE baseline view.

    .venv/bin/python bench/webhooks.py [--broker orm|redis|both] [--calls 2000] [--rounds 8]
                                       [--smoke]

One deployment (gunicorn, 2 sync workers, `bench.baseline_wsgi`: the service's settings and URLs
plus the baseline view) on PostgreSQL; no qcluster runs, so the queued tasks stay queued and the
figures are the web side's alone. The load generator is another process on loopback with
CONCURRENCY threads; each thread owns a share of the calls and sends each call's four callbacks
(initiated, ringing, in-progress, completed; SequenceNumber 0..3) in order, one at a time, as
Twilio does. The baseline pass sends the same bodies to `/bench/baseline/<pk>` (one UPDATE, no
signature check), the signed-floor pass to `/bench/signed/<pk>` (the service's signature check
and body parse, then that UPDATE: the least a callback the service may trust can do).
After a warm-up pass, baseline, signed-floor and callback rounds alternate (ROUNDS each); the
ratio is callbacks/s over baseline/s, each summed over its rounds, and the signed floor's
ratio says how far any callback could go.
Exit 1 if a callback is refused or the calls do not all end `completed` with four events.
"""

import argparse
import http.client
import multiprocessing
import sys
import threading
import time
from collections import defaultdict
from email.utils import formatdate

import common

CONCURRENCY = 4  # two requests waiting per gunicorn worker: busy, without a deep backlog
STATUSES = ["initiated", "ringing", "in-progress", "completed"]
TARGET_RATIO = 0.9
ROUNDS = 8


def make_calls(count):
    """A business with `count` outbound calls Twilio has confirmed (SID stored, status queued),
    each the live attempt of an active request, as a dispatch leaves them."""
    from django.utils import timezone

    from calls.models import Business, CallLog, CallRequest

    business = Business.objects.create(
        name="Webhooks", phone_number="+14155550190", max_concurrent_calls=count
    )
    now = timezone.now()
    numbers = [f"+1415620{i:04d}" for i in range(count)]
    requests = CallRequest.objects.bulk_create(
        CallRequest(
            business=business, to_number=n, status="active", attempts=1, next_attempt_at=now
        )
        for n in numbers
    )
    return CallLog.objects.bulk_create(
        CallLog(
            business=business,
            request=r,
            call_sid=f"CA{i:032x}",
            direction="outbound",
            from_number=business.phone_number,
            to_number=r.to_number,
            status="queued",
            dial_started_at=now,
        )  # fmt: skip
        for i, r in enumerate(requests)
    )


def callback_work(calls, base_url):
    """Per thread: [(kind, path, body, headers)], each call's callbacks in sequence order."""
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    validator = RequestValidator(common.BASE_ENV["TWILIO_AUTH_TOKEN"])
    real, baseline, signed = ([[] for _ in range(CONCURRENCY)] for _ in range(3))
    for n, call in enumerate(calls):
        for sequence, status in enumerate(STATUSES):
            params = {
                "CallSid": call.call_sid, "AccountSid": common.BASE_ENV["TWILIO_ACCOUNT_SID"],
                "From": call.from_number, "To": call.to_number, "Caller": call.from_number,
                "Called": call.to_number, "Direction": "outbound-api", "CallStatus": status,
                "ApiVersion": "2010-04-01", "SequenceNumber": str(sequence),
                "Timestamp": formatdate(usegmt=True), "CallbackSource": "call-progress-events",
            }  # fmt: skip
            if status == "completed":
                params.update(CallDuration="6", SipResponseCode="200")
            body = urlencode(params)
            for work, path in (
                (real, f"/twilio/calls/{call.public_id}/status"),
                (baseline, f"/bench/baseline/{call.pk}"),
                (signed, f"/bench/signed/{call.pk}"),
            ):
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": validator.compute_signature(base_url + path, params),
                    "Connection": "close",
                }
                work[n % CONCURRENCY].append((status, path, body, headers))
    return real, baseline, signed


def _send_all(port, work, out):
    for kind, path, body, headers in work:
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError as error:
            status = f"error: {error}"
        finally:
            connection.close()
        out.append((kind, status, time.perf_counter() - started))


def load(port, work_by_thread):
    """Runs in the load-generator process: one thread per share; returns (seconds, results)."""
    results = [[] for _ in work_by_thread]
    threads = [
        threading.Thread(target=_send_all, args=(port, work, out))
        for work, out in zip(work_by_thread, results, strict=True)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, [r for out in results for r in out]


def chunks(work, parts):
    """`work` (per thread) cut into `parts` rounds, each call's four callbacks in one round."""
    cut = [-(-len(share) // (4 * parts)) * 4 for share in work]
    return [
        [share[n * size : (n + 1) * size] for share, size in zip(work, cut, strict=True)]
        for n in range(parts)
    ]


def summary(seconds, results):
    latencies = [latency for _, _, latency in results]
    by_kind = defaultdict(list)
    for kind, _, latency in results:
        by_kind[kind].append(latency)
    return {
        "rate": len(results) / seconds,
        "p50": common.percentile(latencies, 50),
        "p99": common.percentile(latencies, 99),
        "by_kind": {kind: common.median(values) for kind, values in by_kind.items()},
        "refused": [(kind, status) for kind, status, _ in results if status not in (200, 204)],
    }


def run(broker, count, rounds, pool):
    from django.db import connections
    from django_q.models import OrmQ

    from calls.models import CallEvent, CallLog, CallRequest
    from tests.e2e.live_stack import LiveStack

    connections.close_all()
    url = common.fresh_database("webhooks")
    calls = make_calls(count)

    class WebOnly(LiveStack):
        def start(self):
            self._spawn(
                "web",
                [sys.executable, "-m", "gunicorn", "bench.baseline_wsgi",
                 "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2",
                 "--log-level", "warning"],
            )  # fmt: skip
            self._wait_for(f"{self.web_url}/healthz")
            return self

    stack = WebOnly(
        database_url=url,
        redis_url=common.REDIS_URL if broker == "redis" else "",
        log_dir=common.log_dir(f"webhooks_{broker}"),
    )
    real, baseline, signed = callback_work(calls, stack.web_url)
    port = stack.web_port
    failures = []
    stack.start()
    try:
        pool.apply(load, (port, baseline))  # warm-up: both workers, connections, caches
        # Baseline and callback rounds alternate, so a change in the machine's background load
        # (other jobs share these two cores) hits both alike.
        passes = {"baseline": baseline, "signed": signed, "callbacks": real}
        totals = {name: [0.0, []] for name in passes}
        for rounds_of in zip(*(chunks(work, rounds) for work in passes.values()), strict=True):
            for name, work in zip(passes, rounds_of, strict=True):
                seconds, results = pool.apply(load, (port, work))
                totals[name][0] += seconds
                totals[name][1] += results
        summaries = {name: summary(*totals[name]) for name in passes}
    finally:
        if stack.stop():
            failures.append("gunicorn did not stop on SIGTERM")
    for name, result in summaries.items():
        if result["refused"]:
            failures.append(
                f"{name}: {len(result['refused'])} refused, e.g. {result['refused'][0]}"
            )
    completed = CallLog.objects.filter(status="completed").count()
    events = CallEvent.objects.filter(applied=True).count()
    done = CallRequest.objects.filter(status="done").count()
    if (completed, events, done) != (count, 4 * count, count):
        failures.append(f"{completed} completed, {events} events applied, {done} requests done")
    queued = OrmQ.objects.count() if broker == "orm" else None
    return {
        **summaries,
        "queued": queued,
        "failures": failures,
    }


def report(broker, count, r):
    base, signed, callbacks = r["baseline"], r["signed"], r["callbacks"]
    ratio = callbacks["rate"] / base["rate"]
    common.heading(f"webhooks, {broker} broker ({count} calls, {4 * count} callbacks)")
    print(f"baseline: {base['rate']:.0f} req/s, p99 {base['p99'] * 1000:.1f} ms")
    print(f"signed floor: {signed['rate']:.0f} req/s, p99 {signed['p99'] * 1000:.1f} ms")
    print(f"callbacks: {callbacks['rate']:.0f} req/s, p99 {callbacks['p99'] * 1000:.1f} ms")
    kinds = callbacks["by_kind"]
    print(
        "callback p50 by status (ms): "
        + ", ".join(f"{s} {kinds[s] * 1000:.1f}" for s in STATUSES)
        + f"; baseline p50 {base['p50'] * 1000:.1f}"
    )
    if r["queued"] is not None:
        print(f"OrmQ rows queued by the terminal callbacks: {r['queued']}")
    print(
        f"signed floor/s / baseline/s: {signed['rate'] / base['rate']:.2f} (the most a signed "
        f"callback could reach); callbacks/s / signed floor/s: "
        f"{callbacks['rate'] / signed['rate']:.2f}"
    )
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"callbacks/s / baseline/s: {ratio:.2f} (target >= {TARGET_RATIO}: {verdict})")
    print("invariants:", "held" if not r["failures"] else "BROKEN: " + "; ".join(r["failures"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="both")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--smoke", action="store_true", help="40 calls, 1 round, ORM (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.broker, args.calls, args.rounds = "orm", 40, 1
    brokers = ["orm", "redis"] if args.broker == "both" else [args.broker]
    common.django_setup(common.database_url("webhooks"))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        results = {broker: run(broker, args.calls, args.rounds, pool) for broker in brokers}
    common.heading("machine")
    print(common.machine())
    for broker, result in results.items():
        report(broker, args.calls, result)
    return 1 if any(r["failures"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
