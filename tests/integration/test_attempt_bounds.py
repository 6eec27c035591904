"""Attempts are bounded (1-20, wherever they are set) and the backoff to a day, so every retry
time is a real date: past ~31 attempts `now + delay` overflowed, the callback answered 500,
reconcile crashed and the slot leaked."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import Business, CallRequest
from calls.models.businesses import MAX_ATTEMPTS_LIMIT
from calls.services.operator_actions import request_retry_now
from calls.services.status import RETRY_DELAY_MAX_SECONDS, retry_delay
from tests.recipes import callback, make_call, make_request, sid

A = "+14155550123"


@pytest.mark.parametrize("attempts", [1, 19, 31, 64, 10_000])
def test_the_backoff_never_exceeds_a_day_with_its_jitter(business, attempts):
    business.retry_delay_seconds = 2_000_000_000  # the largest the field holds, about 63 years
    delay = retry_delay(business, attempts)
    assert timedelta(0) < delay <= timedelta(seconds=RETRY_DELAY_MAX_SECONDS * 1.2)
    assert timezone.now() + delay  # a real date


def test_a_busy_callback_on_the_last_attempts_schedules_a_retry_within_a_day(business, twilio_post):
    business.retry_delay_seconds = 3600
    business.save()
    request = make_request(business, number=A, status="active", attempts=19, max_attempts=20)
    call = make_call(business, number=A, request=request, call_sid=sid(1), status="ringing")

    response = twilio_post(f"/twilio/calls/{call.public_id}/status", callback(sid(1), "busy", 3))

    assert response.status_code == 204
    request.refresh_from_db()
    assert request.status == "queued"
    assert request.next_attempt_at - timezone.now() <= timedelta(days=1.2)


@pytest.mark.parametrize("value", [0, MAX_ATTEMPTS_LIMIT + 1, 1000])
def test_attempts_outside_1_to_20_are_refused_by_the_model_and_the_database(business, value):
    business.max_attempts = value
    with pytest.raises(ValidationError) as error:
        business.full_clean()
    assert "max_attempts" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Business.objects.filter(pk=business.pk).update(max_attempts=value)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_request(business, number=A, max_attempts=value)
    assert CallRequest.objects.count() == 0


def test_retry_now_never_raises_the_attempts_past_the_limit(business):
    request = make_request(
        business, number=A, status="failed", attempts=MAX_ATTEMPTS_LIMIT, max_attempts=20
    )

    result = request_retry_now(request_id=request.pk)

    assert result.changed == 0
    assert result.summary("request", "queued again") == (
        "0 requests queued again: the selected request had had the most attempts allowed (20)."
    )
    request.refresh_from_db()
    assert (request.status, request.max_attempts) == ("failed", 20)


def test_retry_now_below_the_limit_gives_one_more_attempt(business):
    request = make_request(business, number=A, status="failed", attempts=19, max_attempts=19)

    assert request_retry_now(request_id=request.pk).changed == 1

    request.refresh_from_db()
    assert (request.status, request.max_attempts) == ("queued", 20)
