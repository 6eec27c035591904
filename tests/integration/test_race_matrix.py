"""Every pair of the services that take row locks, raced on PostgreSQL with widened gaps.

Each service below runs against one small queue (a business with a webhook URL, a running
campaign with queued, live and failed requests, a paused campaign, old history); every pair runs
at once on two connections, each statement followed by a random pause (tests/racing.py's Gaps),
several times with different pauses, so the two transactions interleave at the points where one
can wait on the other. A pair fails on `deadlock detected` (PostgreSQL looks after 100 ms), on
any other error, on a webhook answered with anything but 2xx, and on any broken invariant of the
queue afterwards (tests/invariants.py). The lock order these races keep is written once, in
calls/services/locks.py.
"""

import itertools
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from calls.services.campaign_numbers import NumberRow, campaign_numbers_add
from calls.services.cleanup import cleanup_run
from calls.services.dispatch import business_dispatch
from calls.services.do_not_call import do_not_call_add
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call
from calls.services.erasure import ErasureRefused, number_erase
from calls.services.hang_ups import call_hang_up
from calls.services.machines import call_voicemail_leave
from calls.services.operator_actions import (
    business_deactivate,
    calls_hang_up,
    campaign_set_status,
    request_cancel,
    request_retry_now,
)
from calls.services.reconcile import call_reconcile
from calls.services.retention import retention_prune
from leads.services import lead_from_call
from tests.invariants import queue_violations
from tests.racing import Gaps, run_at_once
from tests.recipes import callback, make_call, make_request, sign, twilio_call

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

AREA_CODES = ["415", "212", "312", "617", "206", "305"]
# Races per pair in the slow run (the suite's run: two with a webhook URL, one without).
SLOW_ROUNDS = 12


class World:
    """One business's queue, made afresh for each race (its own numbers, so races of one test
    never share rows)."""

    counter = itertools.count()

    def __init__(self, fake_twilio, *, hooked: bool):
        n = next(self.counter)
        # Each world its own exchange (NXX 200-999) in an area code inside the window the suite's
        # clock sets (noon in California, afternoon in the east).
        self.prefix = f"+1{AREA_CODES[n // 800 % len(AREA_CODES)]}{200 + n % 800}"
        self.business = Business.objects.create(
            name=f"Race {n}", phone_number=self.number(9999), max_concurrent_calls=4
        )
        if hooked:
            # Set directly: the URL's SSRF check is not what these races are about.
            Business.objects.filter(pk=self.business.pk).update(
                webhook_url="https://hooks.example.com/calls", webhook_secret="whsec_" + "A" * 32
            )
        business = self.business
        self.campaign = Campaign.objects.create(business=business, name="Spring")
        self.paused = Campaign.objects.create(business=business, name="Paused", status="paused")
        self.queued = [
            make_request(business, number=self.number(k), campaign=self.campaign) for k in range(3)
        ]
        make_request(business, number=self.number(10), campaign=self.paused)
        self.failed = make_request(
            business, number=self.number(20), campaign=self.campaign, status="failed", attempts=1
        )
        self.live = []
        for k in range(30, 32):
            request = make_request(
                business, number=self.number(k), campaign=self.campaign, status="active",
                attempts=1,
            )  # fmt: skip
            call = make_call(
                business, number=self.number(k), request=request, status="in-progress",
                call_sid=f"CA{n:016x}{k:016x}",
            )  # fmt: skip
            fake_twilio.calls[call.call_sid] = twilio_call(call.call_sid, "completed")
            self.live.append(call)
        old = timezone.now() - timedelta(days=400)
        history = make_request(business, number=self.number(40), status="done", attempts=1)
        ended = make_call(business, number=self.number(40), request=history, status="completed",
                          call_sid=f"CA{n:016x}{40:016x}")  # fmt: skip
        CallRequest.objects.filter(pk=history.pk).update(updated_at=old)
        CallLog.objects.filter(pk=ended.pk).update(ended_at=old, created_at=old)

    def number(self, k: int) -> str:
        return f"{self.prefix}{5000 + k:04d}"

    @property
    def call(self) -> CallLog:
        return CallLog.objects.get(pk=self.live[0].pk)


def webhook(path: str, params: dict):
    response = Client().post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(path, params),
    )
    assert 200 <= response.status_code < 300, f"{path} answered {response.status_code}"


def settle(world):
    call = world.live[0]
    webhook(
        f"/twilio/calls/{call.public_id}/status",
        callback(call.call_sid, "completed", 9, CallDuration="12"),
    )


def opt_out(world):
    call = world.live[0]
    webhook(f"/twilio/calls/{call.public_id}/gather", {"CallSid": call.call_sid, "Digits": "9"})


def machine(world):
    call = world.live[0]
    webhook(
        f"/twilio/calls/{call.public_id}/amd",
        {"CallSid": call.call_sid, "AnsweredBy": "machine_end_beep"},
    )
    call_voicemail_leave(call_id=call.pk)


def hang_up(world):
    calls_hang_up(call_ids=[world.live[0].pk])
    call_hang_up(call_id=world.live[0].pk)


SERVICES = {
    "enqueue": lambda w: enqueue_outbound_call(
        business=w.business, to_number=w.number(50), campaign=w.campaign
    ),
    "numbers": lambda w: campaign_numbers_add(
        campaign=w.campaign, rows=[NumberRow(1, w.number(60)), NumberRow(2, w.number(61))]
    ),
    "dispatch": lambda w: business_dispatch(business_id=w.business.pk),
    "settle": settle,
    "cancel-live": lambda w: request_cancel(request_id=w.live[0].request_id),
    "cancel-queued": lambda w: request_cancel(request_id=w.queued[0].pk),
    "pause": lambda w: campaign_set_status(campaign_id=w.campaign.pk, status="paused"),
    "stop": lambda w: campaign_set_status(campaign_id=w.campaign.pk, status="stopping"),
    "resume": lambda w: campaign_set_status(campaign_id=w.paused.pk, status="running"),
    "cancel-campaign": lambda w: campaign_set_status(
        campaign_id=w.campaign.pk, status="canceled", hang_up=True
    ),
    "retry-now": lambda w: request_retry_now(request_id=w.failed.pk),
    "hang-up": hang_up,
    "opt-out": opt_out,
    "machine": machine,
    "dnc-add": lambda w: do_not_call_add(business_id=w.business.pk, number=w.number(1)),
    "erase": lambda w: number_erase(business_id=w.business.pk, number=w.number(2), via="race"),
    "deactivate": lambda w: business_deactivate(business_id=w.business.pk),
    "reconcile": lambda w: call_reconcile(call_id=w.live[0].pk),
    "lead": lambda w: lead_from_call(call_sid=w.live[0].call_sid),
    "retention": lambda w: retention_prune(),
    "cleanup": lambda w: cleanup_run(),
}
# What a service answers when the other one got there first: a refusal, not a failure.
REFUSALS = (EnqueueRefused, ErasureRefused)
PAIRS = list(itertools.combinations_with_replacement(sorted(SERVICES), 2))


def race_pairs(fake_twilio, settings, pairs, rounds: int, hooked: bool) -> list[str]:
    settings.CALL_RETENTION_DAYS = 365
    settings.CLEANUP_LEASE_SECONDS = 0  # every cleanup runs, as if the last had ended
    failures = []
    for seed, ((a, b), _) in enumerate(itertools.product(pairs, range(rounds))):
        world = World(fake_twilio, hooked=hooked)
        gaps = Gaps(seed)
        errors = run_at_once(
            gaps.wrap(lambda w=world, a=a: SERVICES[a](w)),
            gaps.wrap(lambda w=world, b=b: SERVICES[b](w)),
        )
        errors = [e for e in errors if not isinstance(e, REFUSALS)]
        broken = queue_violations(business_ids=[world.business.pk])
        if errors or broken:
            failures.append(f"{a} × {b}: {[repr(e)[:300] for e in errors]} {broken}")
    return failures


def pairs_of(service: str) -> list[tuple[str, str]]:
    return [pair for pair in PAIRS if pair[0] == service]


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize(("hooked", "rounds"), [(True, 2), (False, 1)], ids=["webhook", "plain"])
def test_a_locking_service_raced_with_each_other_finishes_without_deadlock_or_broken_invariant(
    fake_twilio, settings, service, hooked, rounds
):
    """One service against every service after it in name order (and itself), so the matrix's
    pairs are spread over the suite's workers."""
    failures = race_pairs(fake_twilio, settings, pairs_of(service), rounds, hooked)
    assert failures == [], "\n".join(failures)


@pytest.mark.long
def test_every_pair_raced_many_times(fake_twilio, settings):
    failures = race_pairs(fake_twilio, settings, PAIRS, SLOW_ROUNDS, hooked=True)
    assert failures == [], "\n".join(failures)
