"""Calls per second: creates are paced by tokens in the database, without any real waiting here
(the test's sleep lets a second pass on the tokens' clock instead)."""

import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone
from django_q.models import OrmQ

from calls import tasks
from calls.models import Business, CallLog, CallRequest, DialToken, DialTurn
from calls.services import dial_tokens
from calls.services import dispatch as dispatch_service
from calls.services.dial_tokens import dial_token_release, dial_token_take
from calls.services.enqueue import enqueue_outbound_calls
from twilio_accounts.models import TwilioAccount


def free_tokens():
    return set(DialToken.objects.filter(free_at__lte=Now()).values_list("pk", flat=True))


def test_a_dispatch_sends_at_most_the_rate_between_two_seconds(
    business, fake_twilio, settings, monkeypatch
):
    settings.TWILIO_CALLS_PER_SECOND = 2
    business.max_concurrent_calls = 7
    business.save()
    enqueue_outbound_calls(business=business, numbers=[f"+1415555{n:04d}" for n in range(7)])
    timeline = []
    real_create = fake_twilio.call_create

    def create(**kwargs):
        timeline.append("create")
        return real_create(**kwargs)

    def one_second_passes(seconds):
        timeline.append("second")
        DialToken.objects.update(free_at=F("free_at") - timedelta(seconds=1))

    monkeypatch.setattr("calls.twilio_client.call_create", create)
    monkeypatch.setattr(dial_tokens.time, "sleep", one_second_passes)
    tasks.dispatch(business.pk)
    assert timeline.count("create") == 7
    bursts = [len(burst.split()) for burst in " ".join(timeline).split("second")]
    assert max(bursts) == 2, timeline


def test_a_token_is_held_while_its_create_is_in_flight(db, settings):
    settings.TWILIO_CALLS_PER_SECOND = 2
    settings.TWILIO_HTTP_TIMEOUT_SECONDS = 10
    token = dial_token_take()
    assert sorted(DialToken.objects.values_list("slot", flat=True)) == [1, 2]
    assert free_tokens() == set(DialToken.objects.values_list("pk", flat=True)) - {token}
    # A worker that dies holding it loses it only until the HTTP timeout has surely passed.
    held_until = DialToken.objects.get(pk=token).free_at
    assert held_until > timezone.now() + timedelta(seconds=10)


def test_a_token_is_free_again_a_second_after_a_sent_create_at_once_after_an_unsent_one(
    db, settings
):
    settings.TWILIO_CALLS_PER_SECOND = 2
    sent, unsent = dial_token_take(), dial_token_take()
    dial_token_release(token=sent, sent=True)
    dial_token_release(token=unsent, sent=False)
    assert free_tokens() == {unsent}
    # A second (and a millisecond: SQLite's clock reads to the millisecond, and within the same
    # one its shorter text sorts before the stored stamp) after the create returned.
    a_second_later = timedelta(seconds=1, milliseconds=1)
    DialToken.objects.filter(pk=sent).update(free_at=F("free_at") - a_second_later)
    assert free_tokens() == {sent, unsent}


def test_with_every_token_held_a_take_waits(db, settings, monkeypatch):
    settings.TWILIO_CALLS_PER_SECOND = 1
    dial_token_take()

    class Waited(Exception):
        pass

    def sleep(seconds):
        raise Waited

    monkeypatch.setattr(dial_tokens.time, "sleep", sleep)
    with pytest.raises(Waited):
        dial_token_take()


@pytest.fixture
def account(db):
    return TwilioAccount.objects.create(
        account_sid="AC" + "c" * 32, auth_token="t", calls_per_second=50
    )


def shop(name, account):
    return Business.objects.create(
        name=name, phone_number=f"+1212555{Business.objects.count():04d}", twilio_account=account
    )


def waits(business, account):
    """A dispatch of the business looks for a token, as dial_token_take does at each look."""
    dial_tokens._turn_mark(
        business.pk, account_id=account.pk, waiting_until=Now() + dial_tokens.TURN_LAPSE
    )


def take(business, account):
    """One token for the business, released unsent; the business counts it all the same."""
    token = dial_token_take(account_id=account.pk, business_id=business.pk)
    dial_token_release(token=token, sent=False)


def turns(account, *businesses, count):
    """Each round, every business has a dispatch waiting for a token (as racing workers would);
    the one whose turn it is takes it. Returns who took each, in order."""
    taken = []
    for _ in range(count):
        for business in businesses:
            waits(business, account)
        for business in businesses:
            # One look (its deadline has passed): a business not first in line takes nothing.
            token = dial_token_take(
                account_id=account.pk, business_id=business.pk, deadline=time.monotonic()
            )
            if token is not None:
                dial_token_release(token=token, sent=False)
                taken.append(business.name)
                break
    return taken


def test_a_business_that_took_many_tokens_lately_yields_to_one_that_just_arrived(account):
    big, small = shop("big", account), shop("small", account)
    for _ in range(10):
        take(big, account)
    taken = turns(account, big, small, count=20)
    # Plain turns would alternate from the start; by recent use the newcomer takes the next
    # nine (its use 0..9 against the big one's 10), then they share.
    assert taken[:9] == ["small"] * 9, taken
    assert "big" in taken[9:12], taken
    assert taken[12:] == ["big", "small"] * 4 or taken[12:] == ["small", "big"] * 4, taken


def test_businesses_of_equal_use_alternate_first_by_id(account):
    first, second = shop("first", account), shop("second", account)
    assert turns(account, second, first, count=6) == ["first", "second"] * 3


def test_tokens_taken_long_ago_count_for_little(account):
    early, late = shop("early", account), shop("late", account)
    for _ in range(10):
        take(early, account)
    take(late, account)
    # A minute later, six half-lives: the early business's ten tokens count as 0.16.
    DialTurn.objects.filter(business=early).update(served_at=F("served_at") - timedelta(seconds=60))
    assert turns(account, early, late, count=1) == ["early"]


def test_a_waiting_business_that_died_stops_holding_the_line_after_its_lapse(account):
    busy, dead = shop("busy", account), shop("dead", account)
    for _ in range(5):
        take(busy, account)
    # The dead business's dispatch marked it waiting, then its worker died.
    waits(dead, account)
    once = time.monotonic()
    assert dial_token_take(account_id=account.pk, business_id=busy.pk, deadline=once) is None
    DialTurn.objects.filter(business=dead).update(
        waiting_until=F("waiting_until") - dial_tokens.TURN_LAPSE
    )
    assert dial_token_take(account_id=account.pk, business_id=busy.pk, deadline=once) is not None
    # Its sixth token counted (less what the first five decayed in the test's second or so).
    assert 5.5 < DialTurn.objects.get(business=busy).use <= 6


def dispatches_queued(queue):
    return [args[0] for name, args in queue() if name == "calls.tasks.dispatch"]


def test_a_dispatch_behind_another_business_waiter_gives_its_worker_back_and_is_woken(
    account, fake_twilio, queue, monkeypatch, django_capture_on_commit_callbacks
):
    account.calls_per_second = 1
    account.save()
    waiter, parked = shop("waiter", account), shop("parked", account)
    for _ in range(3):
        take(parked, account)  # recent use 3 against the waiter's 1: behind it in line
    held = dial_token_take(account_id=account.pk, business_id=waiter.pk)
    waits(waiter, account)  # its dispatch waits for the token its next call needs
    enqueue_outbound_calls(business=parked, numbers=["+14155550101", "+14155550102"])
    queue_before = len(queue())

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch(parked.pk) is None
    # Nothing sent, nothing left claimed: its requests wait in the queue, the business parked.
    assert fake_twilio.created == []
    assert not CallLog.objects.filter(business=parked).exists()
    assert set(CallRequest.objects.filter(business=parked).values_list("status", flat=True)) == {
        CallRequest.Status.QUEUED
    }
    assert DialTurn.objects.get(business=parked).parked_at is not None
    assert len(queue()) == queue_before  # it did not queue itself again

    # The waiter's dispatch (its wait over) sends its call and, as it ends, queues the parked
    # business's.
    dial_token_release(token=held, sent=False)
    DialTurn.objects.filter(business=waiter).update(waiting_until=None)
    enqueue_outbound_calls(business=waiter, numbers=["+14155550201"])
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch(waiter.pk)
    assert [c["to"] for c in fake_twilio.created] == ["+14155550201"]
    assert dispatches_queued(queue) == [parked.pk]
    assert DialTurn.objects.get(business=parked).parked_at is None

    def one_second_passes(seconds):
        DialToken.objects.update(free_at=F("free_at") - timedelta(seconds=1))

    monkeypatch.setattr(dial_tokens.time, "sleep", one_second_passes)
    tasks.dispatch(parked.pk)
    assert sorted(c["to"] for c in fake_twilio.created[1:]) == ["+14155550101", "+14155550102"]


def test_a_dispatch_that_gives_way_while_placing_hands_back_every_unsent_claim(
    account, fake_twilio, queue, django_capture_on_commit_callbacks
):
    account.calls_per_second = 1
    account.save()
    first, second = shop("first", account), shop("second", account)
    enqueue_outbound_calls(business=second, numbers=["+14155550301", "+14155550302"])
    real_claim = dispatch_service.business_claim

    def claim_then_overtaken(*, business_id):
        call_ids = real_claim(business_id=business_id)
        # As it claims, another business with less recent use starts waiting and the token is
        # taken: it would wait behind that one.
        for _ in range(3):
            take(second, account)
        dial_token_take(account_id=account.pk, business_id=first.pk)
        waits(first, account)
        return call_ids

    dispatch_service.business_claim = claim_then_overtaken
    try:
        with django_capture_on_commit_callbacks(execute=True):
            claimed = dispatch_service.business_dispatch(business_id=second.pk)
    finally:
        dispatch_service.business_claim = real_claim
    assert len(claimed) == 2
    assert fake_twilio.created == []
    assert not CallLog.objects.filter(business=second).exists()
    assert set(CallRequest.objects.filter(business=second).values_list("status", flat=True)) == {
        CallRequest.Status.QUEUED
    }
    # It parked its business, but it waited before it gave way: another may have parked behind
    # it, so it wakes the account's parked businesses as it ends, its own among them (once: that
    # dispatch parks it again before claiming, and wakes no one).
    assert DialTurn.objects.get(business=second).parked_at is None
    assert dispatches_queued(queue) == [second.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch(second.pk) is None
    assert not CallLog.objects.filter(business=second).exists()
    assert DialTurn.objects.get(business=second).parked_at is not None
    assert dispatches_queued(queue) == [second.pk]


def test_a_business_parking_as_the_waiter_ahead_stops_waiting_is_not_left_parked(
    account, monkeypatch
):
    account.calls_per_second = 1
    account.save()
    waiter, late = shop("waiter", account), shop("late", account)
    take(late, account)
    held = dial_token_take(account_id=account.pk, business_id=waiter.pk)
    waits(waiter, account)
    real_mark = dial_tokens._turn_mark

    def mark_as_the_waiter_takes_its_token(business_id, **fields):
        real_mark(business_id, **fields)
        if "parked_at" in fields:  # between the parking's write and its second look
            DialTurn.objects.filter(business=waiter).update(waiting_until=None)

    monkeypatch.setattr(dial_tokens, "_turn_mark", mark_as_the_waiter_takes_its_token)
    assert dial_tokens.dial_turn_give_way(business_id=late.pk, account_id=account.pk) is False
    assert DialTurn.objects.get(business=late).parked_at is None
    dial_token_release(token=held, sent=False)


def test_a_waiter_wakes_a_parked_business_once_its_own_use_is_well_above(
    account, queue, django_capture_on_commit_callbacks
):
    busy, parked = shop("busy", account), shop("parked", account)
    take(parked, account)
    DialTurn.objects.filter(business=parked).update(parked_at=timezone.now())

    def busy_takes(count):
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(count):
                take(busy, account)

    busy_takes(3)
    assert dispatches_queued(queue) == []  # its use 2 against 1 at its last look: not yet
    busy_takes(2)
    assert dispatches_queued(queue) == [parked.pk]  # 4 > 1 + TURN_HANDOFF_USE
    assert DialTurn.objects.get(business=parked).parked_at is None
    busy_takes(1)
    assert dispatches_queued(queue) == [parked.pk]  # woken once


def test_a_dispatch_does_not_claim_to_wait_beside_another_of_its_business(
    account, fake_twilio, queue, django_capture_on_commit_callbacks
):
    account.calls_per_second = 1
    account.save()
    business = shop("busy", account)
    held = dial_token_take(account_id=account.pk, business_id=business.pk)
    waits(business, account)  # another dispatch of it waits for the next token
    enqueue_outbound_calls(business=business, numbers=["+14155550401"])
    OrmQ.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch(business.pk) is None
    assert not CallLog.objects.filter(business=business).exists()
    assert DialTurn.objects.get(business=business).parked_at is not None
    assert DialTurn.objects.get(business=business).waiting_until is not None  # the other's mark
    assert dispatches_queued(queue) == []

    # The waiting one, as it ends, queues its business again; that dispatch claims and sends.
    dial_token_release(token=held, sent=False)
    DialTurn.objects.filter(business=business).update(waiting_until=None)
    with django_capture_on_commit_callbacks(execute=True):
        dial_tokens.dial_turn_wake(account_id=account.pk)
    assert dispatches_queued(queue) == [business.pk]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == ["+14155550401"]
