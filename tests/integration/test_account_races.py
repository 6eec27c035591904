"""Racing workers on PostgreSQL, each dispatching its own businesses at once: creates through
one Twilio account never exceed its calls per second in any sliding one-second window, and its
max_concurrent_calls bounds its live calls across all its businesses."""

import time

import pytest
from django_q.models import OrmQ

from calls import tasks
from calls.models import Business, CallLog
from calls.services.enqueue import enqueue_outbound_calls
from tests.racing import race
from twilio_accounts.models import TwilioAccount
from twilio_sim.switchboard import _max_in_one_second

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NUMBERS = [f"+1415555{n:04d}" for n in range(3)]


def businesses(prefix, count, account):
    return [
        Business.objects.create(
            name=f"{prefix}{n}",
            phone_number=f"+1{prefix}55500{n:02d}",
            twilio_account=account,
            max_concurrent_calls=3,
        )
        for n in range(count)
    ]


@pytest.fixture
def creates(fake_twilio, monkeypatch):
    """(monotonic moment, account SID) of every create, recorded while it is in flight."""
    moments = []
    real_create = fake_twilio.call_create

    def create(**kwargs):
        moments.append((time.monotonic(), kwargs["account"].account_sid))
        return real_create(**kwargs)

    monkeypatch.setattr("calls.twilio_client.call_create", create)
    return moments


def race_dispatches(business_ids):
    """Races a dispatch of each business, then, round after round, the dispatches those queued
    (a dispatch that gave its worker back to another of its account's is queued again by it),
    until none is queued: as the workers would run them."""
    for _ in range(20):
        OrmQ.objects.all().delete()
        race(*[lambda pk=pk: tasks.dispatch(pk) for pk in business_ids])
        business_ids = [
            row.task["args"][0]
            for row in OrmQ.objects.all()
            if row.func() == "calls.tasks.dispatch"
        ]
        if not business_ids:
            return
    raise AssertionError(f"dispatches still queued after 20 rounds: {business_ids}")


def test_racing_dispatches_keep_each_account_s_rate_and_cap(creates, settings):
    settings.TWILIO_CALLS_PER_SECOND = 3
    settings.DISPATCH_BUDGET_SECONDS = 6
    shared = TwilioAccount.objects.create(
        account_sid="AC" + "a" * 32, auth_token="t", calls_per_second=2, max_concurrent_calls=5
    )
    solo = TwilioAccount.objects.create(
        account_sid="AC" + "b" * 32, auth_token="u", calls_per_second=1
    )
    tenants = businesses("212", 4, shared) + businesses("312", 1, solo)
    mains = businesses("415", 2, None)
    for business in tenants + mains:
        enqueue_outbound_calls(business=business, numbers=NUMBERS)
    race_dispatches([b.pk for b in tenants + mains])

    by_account = {}
    for moment, account_sid in creates:
        by_account.setdefault(account_sid, []).append(moment)
    assert _max_in_one_second(by_account[shared.account_sid]) <= 2
    assert _max_in_one_second(by_account[solo.account_sid]) <= 1
    assert _max_in_one_second(by_account[settings.TWILIO_ACCOUNT_SID]) <= 3
    # The shared account's cap: five live calls across its four businesses (twelve requests).
    live = CallLog.objects.filter(status__in=CallLog.LIVE_STATUSES)
    assert live.filter(twilio_account=shared).count() == 5
    assert len(by_account[shared.account_sid]) == 5
    assert live.filter(twilio_account=solo).count() == 3
    assert live.filter(twilio_account=None).count() == 6
    # Whatever a dispatch gave way with was handed back: no claim is left pending and unsent.
    assert not CallLog.objects.filter(
        status=CallLog.Status.PENDING, dial_started_at__isnull=True
    ).exists()


def test_a_business_with_many_dispatches_waiting_takes_its_turn_with_one_that_has_few(db):
    """Five workers send for a business with a long queue, one for a business with four calls,
    on one account at 2 per second: the tokens go round-robin by business, so the small one's
    four creates are among the first eight or so, not one in six as workers would share them."""
    import threading

    from calls.services.dial_tokens import dial_token_release, dial_token_take
    from tests.racing import run_at_once

    account = TwilioAccount.objects.create(
        account_sid="AC" + "a" * 32, auth_token="t", calls_per_second=2
    )
    big, small = businesses("212", 2, account)
    taken = []
    small_done = threading.Event()

    def send(business_id):
        token = dial_token_take(
            account_id=account.pk, business_id=business_id, deadline=time.monotonic() + 10
        )
        if token is None:
            return False
        taken.append(business_id)
        time.sleep(0.01)  # the create in flight
        dial_token_release(token=token, sent=True)
        return True

    def big_worker():
        while not small_done.is_set() and len(taken) < 30:
            send(big.pk)

    def small_worker():
        for _ in range(4):
            assert send(small.pk)
        small_done.set()

    errors = run_at_once(*[big_worker] * 5, small_worker, timeout=60)
    assert errors == []
    small_at = [n for n, business_id in enumerate(taken) if business_id == small.pk]
    assert len(small_at) == 4
    assert small_at[-1] <= 8, taken
