"""Retention: the cleanup drops raw callback parameters, old ended calls and closed requests, and
expired answers of idempotent API POSTs, a bounded batch per run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.keys import api_key_create
from api.models import IdempotencyRecord
from calls.models import CallEvent, CallLog, CallRequest
from calls.services.cleanup import cleanup_run
from calls.services.retention import retention_prune
from tests.recipes import make_call, make_request


@pytest.fixture(autouse=True)
def retention(settings):
    settings.CALLBACK_PARAMS_RETENTION_DAYS = 30
    settings.CALL_RETENTION_DAYS = 365
    settings.RETENTION_BATCH = 2


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def event(call, days):
    row = CallEvent.objects.create(call=call, status="ringing", applied=True, params={"To": "x"})
    CallEvent.objects.filter(pk=row.pk).update(received_at=days_ago(days))
    return row


def test_raw_parameters_are_dropped_after_their_retention_a_batch_at_a_time(business):
    call = make_call(business, status="ringing")
    old = [event(call, 31 + n) for n in range(3)]
    recent = event(call, 29)
    assert retention_prune().params == 2
    assert retention_prune().params == 1
    assert retention_prune().params == 0
    for row in old:
        row.refresh_from_db()
        assert row.params is None
        assert row.status == "ringing"
    recent.refresh_from_db()
    assert recent.params == {"To": "x"}


def test_ended_calls_and_closed_requests_are_deleted_after_their_retention(business):
    old_request = make_request(business, status="done")
    CallRequest.objects.filter(pk=old_request.pk).update(updated_at=days_ago(400))
    open_request = make_request(business, number="+14155550124", status="queued")
    CallRequest.objects.filter(pk=open_request.pk).update(updated_at=days_ago(400))
    old_call = make_call(business, status="completed", request=old_request)
    CallLog.objects.filter(pk=old_call.pk).update(ended_at=days_ago(366))
    event(old_call, 366)
    recent_call = make_call(business, number="+14155550125", status="completed")
    CallLog.objects.filter(pk=recent_call.pk).update(ended_at=days_ago(364))
    live_call = make_call(business, number="+14155550126", status="ringing")
    CallLog.objects.filter(pk=live_call.pk).update(created_at=days_ago(500))
    result = retention_prune()
    assert (result.calls, result.requests) == (1, 1)
    assert set(CallLog.objects.values_list("pk", flat=True)) == {recent_call.pk, live_call.pk}
    assert not CallEvent.objects.filter(call_id=old_call.pk).exists()
    assert set(CallRequest.objects.values_list("pk", flat=True)) == {open_request.pk}


def test_zero_days_keeps_everything(business, settings):
    settings.CALLBACK_PARAMS_RETENTION_DAYS = settings.CALL_RETENTION_DAYS = 0
    call = make_call(business, status="completed")
    CallLog.objects.filter(pk=call.pk).update(ended_at=days_ago(5000))
    event(call, 5000)
    result = retention_prune()
    assert (result.params, result.calls, result.requests) == (0, 0, 0)
    assert CallEvent.objects.get().params == {"To": "x"}


def test_the_scheduled_cleanup_runs_the_retention_step(business):
    call = make_call(business, status="ringing")
    event(call, 40)
    result = cleanup_run()
    assert result.retention.params == 1
    assert CallEvent.objects.get().params is None


def idempotency_record(api_key, key, hours):
    row = IdempotencyRecord.objects.create(
        api_key=api_key, key=key, request_hash="0" * 64, status_code=201, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(hours=hours)
    )
    return row


def test_idempotency_answers_are_deleted_a_day_on_though_their_keys_never_post_again(
    business, settings
):
    """A stored first answer holds the number and the client's metadata: it goes after
    API_IDEMPOTENCY_HOURS on the cleanup's clock, not only when its key posts again."""
    settings.API_IDEMPOTENCY_HOURS = 24
    api_key, _ = api_key_create(business=business)
    old = [idempotency_record(api_key, f"old-{n}", 25 + n) for n in range(3)]
    recent = idempotency_record(api_key, "recent", 23)
    assert cleanup_run().retention.idempotency == 2
    assert retention_prune().idempotency == 1
    assert retention_prune().idempotency == 0
    assert not IdempotencyRecord.objects.filter(pk__in=[row.pk for row in old]).exists()
    assert IdempotencyRecord.objects.filter(pk=recent.pk).exists()
