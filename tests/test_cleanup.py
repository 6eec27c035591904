from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from model_bakery import baker

from calls import services, tasks
from calls.models import CallLog, CallRequest, Lease
from leads.models import Lead
from tests.conftest import race


def make_pending(business, age_seconds, to_number, stamped=False, **kwargs):
    fields = {"status": "pending", **kwargs}
    call = baker.make(
        CallLog,
        business=business,
        direction="outbound",
        from_number=business.phone_number,
        to_number=to_number,
        **fields,
    )
    at = timezone.now() - timedelta(seconds=age_seconds)
    CallLog.objects.filter(pk=call.pk).update(
        created_at=at, dial_started_at=at if stamped else None
    )
    call.refresh_from_db()
    return call


@pytest.fixture
def old_orphan(business):
    return make_pending(business, 121, to_number="+14155550101")


def test_it_fails_an_old_pending_call_that_was_never_sent(old_orphan, queue):
    assert tasks.cleanup_orphaned_calls() == 1
    old_orphan.refresh_from_db()
    assert old_orphan.status == "failed"
    assert old_orphan.error_code == "never-sent"
    assert "never sent to Twilio" in old_orphan.error_message
    assert old_orphan.ended_by == "cleanup"
    assert old_orphan.ended_at is not None


def test_it_leaves_younger_pending_calls_and_calls_with_a_sid(business, queue):
    young = make_pending(business, 60, to_number="+14155550102")
    with_sid = make_pending(business, 600, to_number="+14155550103", call_sid="CA" + "1" * 32)
    queued = make_pending(business, 600, to_number="+14155550104", status="queued")
    assert tasks.cleanup_orphaned_calls() == 0
    for call in (young, with_sid, queued):
        before = call.status
        call.refresh_from_db()
        assert call.status == before
        assert call.error_code == ""


def test_age_counts_from_the_dial_stamp_when_there_is_one(business):
    call = make_pending(business, 600, to_number="+14155550105")
    CallLog.objects.filter(pk=call.pk).update(
        dial_started_at=timezone.now() - timedelta(seconds=30)
    )
    assert services.cleanup_orphaned_calls() == 0
    call.refresh_from_db()
    assert call.status == "pending"


@override_settings(ORPHAN_CALL_SECONDS=10)
def test_the_threshold_comes_from_the_setting(business):
    make_pending(business, 11, to_number="+14155550106")
    assert services.cleanup_orphaned_calls() == 1


def test_an_orphan_frees_its_request_to_be_retried_without_counting_the_attempt(
    business, queue, django_capture_on_commit_callbacks
):
    request = baker.make(
        CallRequest,
        business=business,
        to_number="+14155550107",
        status="active",
        attempts=1,
        next_attempt_at=timezone.now(),
    )
    call = make_pending(business, 200, to_number="+14155550107", request=request)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.cleanup_orphaned_calls() == 1
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 0)
    assert "never sent" in request.last_error
    assert ("calls.tasks.dispatch", (business.pk,)) in queue()
    call.refresh_from_db()
    assert call.status == "failed"


def test_a_callback_that_lands_between_read_and_write_wins(business, monkeypatch):
    call = make_pending(business, 300, to_number="+14155550108")
    real_orphans = services._orphans
    calls = {"n": 0}

    def orphans_then_callback(now):
        calls["n"] += 1
        if calls["n"] == 2:
            # The callback arrives after the cleanup read the row, before it writes.
            CallLog.objects.filter(pk=call.pk).update(call_sid="CA" + "9" * 32, status="ringing")
        return real_orphans(now)

    monkeypatch.setattr(services, "_orphans", orphans_then_callback)
    assert services.cleanup_orphaned_calls() == 0
    call.refresh_from_db()
    assert (call.status, call.error_code) == ("ringing", "")


def test_the_lease_keeps_a_second_run_out_and_records_success(old_orphan):
    holder = services.lease_take(name=services.CLEANUP_LEASE, seconds=60)
    assert holder
    result = services.cleanup_run()
    assert result.skipped
    old_orphan.refresh_from_db()
    assert old_orphan.status == "pending"
    services.lease_release(name=services.CLEANUP_LEASE, holder=holder, succeeded=False)
    result = services.cleanup_run()
    assert not result.skipped and result.failed == 1
    assert Lease.objects.get(name="cleanup").last_succeeded_at is not None


def test_an_expired_lease_is_taken_over(old_orphan):
    services.lease_take(name=services.CLEANUP_LEASE, seconds=60)
    Lease.objects.filter(name="cleanup").update(held_until=timezone.now() - timedelta(seconds=1))
    assert services.cleanup_run().failed == 1


def test_it_queues_the_lead_task_for_ended_calls_without_a_lead(
    business, queue, django_capture_on_commit_callbacks
):
    sid = "CA" + "2" * 32
    make_pending(
        business,
        60,
        to_number="+14155550109",
        call_sid=sid,
        status="completed",
        ended_at=timezone.now(),
    )
    make_pending(
        business,
        60,
        to_number="+14155550110",
        call_sid="CA" + "3" * 32,
        status="completed",
        ended_at=timezone.now() - timedelta(days=2),
    )
    lead = baker.make(Lead, business=business, phone_number="+14155550111")
    make_pending(
        business,
        60,
        to_number="+14155550111",
        call_sid="CA" + "4" * 32,
        status="completed",
        ended_at=timezone.now(),
        lead=lead,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.cleanup_nudge_leads() == 1
    assert queue() == [("calls.tasks.create_lead_from_call", (sid,))]


def test_its_queries_follow_the_orphans_not_the_table(business):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_three_orphans(prefix):
        for n in range(3):
            make_pending(business, 300, to_number=f"+1415555{prefix}{n}")
        with CaptureQueriesContext(connection) as captured:
            assert services.cleanup_orphaned_calls() == 3
        return len(captured)

    few = queries_for_three_orphans("020")
    baker.make(CallLog, business=business, direction="outbound", status="completed", _quantity=300)
    assert queries_for_three_orphans("030") == few


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_cleanups_racing_fail_each_orphan_once(business):
    orphans = [make_pending(business, 300, to_number=f"+1415555030{n}") for n in range(8)]
    # Each run bypasses the lease to race on the rows themselves.
    results = race(services.cleanup_orphaned_calls, services.cleanup_orphaned_calls)
    assert sum(results) == 8
    assert CallLog.objects.filter(pk__in=[o.pk for o in orphans], status="failed").count() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_one_of_two_racing_runs_takes_the_lease(business):
    def take():
        with transaction.atomic():
            return services.lease_take(name="race", seconds=60)

    taken = race(take, take)
    assert len([t for t in taken if t]) == 1
