"""Calls per second: creates are paced by tokens in the database, without any real waiting here
(the test's sleep lets a second pass on the tokens' clock instead)."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from calls import tasks
from calls.models import DialToken
from calls.services import dial_tokens
from calls.services.dial_tokens import dial_token_release, dial_token_take
from calls.services.enqueue import enqueue_outbound_calls


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
