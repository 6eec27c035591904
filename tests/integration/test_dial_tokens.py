"""Calls per second: creates are paced by tokens in the database, without any real waiting here
(the test's sleep lets a second pass on the tokens' clock instead)."""

import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from calls import tasks
from calls.models import Business, DialToken, DialTurn
from calls.services import dial_tokens
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
            dial_tokens._turn_wait(business.pk, account.pk)
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
    dial_tokens._turn_wait(dead.pk, account.pk)
    once = time.monotonic()
    assert dial_token_take(account_id=account.pk, business_id=busy.pk, deadline=once) is None
    DialTurn.objects.filter(business=dead).update(
        waiting_until=F("waiting_until") - dial_tokens.TURN_LAPSE
    )
    assert dial_token_take(account_id=account.pk, business_id=busy.pk, deadline=once) is not None
    assert DialTurn.objects.get(business=busy).use == pytest.approx(6, abs=0.01)
