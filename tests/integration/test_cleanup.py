"""The scheduled cleanup: orphans never sent are failed, unconfirmed and silent calls are handed to
reconcile, lost nudges are repeated, and runs never overlap."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls import tasks
from calls.models import CallLog, Lease
from calls.services import cleanup
from calls.services.cleanup import (
    CLEANUP_LEASE,
    cleanup_fail_never_sent,
    cleanup_nudge_leads,
    cleanup_queue_reconciles,
    cleanup_run,
    lease_release,
    lease_take,
)
from leads.models import Lead
from tests.racing import race
from tests.recipes import age_call, make_call, make_request, sid


def make_pending(business, age_seconds, number, stamped_seconds=None, **fields):
    return age_call(
        make_call(business, number=number, **fields), age_seconds, stamped_seconds=stamped_seconds
    )


@pytest.fixture
def old_orphan(business):
    return make_pending(business, 121, "+14155550101")


def test_it_fails_an_old_pending_call_that_was_never_sent(old_orphan, queue):
    assert tasks.cleanup_orphaned_calls() == 1
    old_orphan.refresh_from_db()
    assert old_orphan.status == "failed"
    assert old_orphan.error_code == "never-sent"
    assert "never sent to Twilio" in old_orphan.error_message
    assert old_orphan.ended_by == "cleanup"
    assert old_orphan.ended_at is not None


def test_it_leaves_younger_pending_calls_and_calls_with_a_sid(business, queue):
    young = make_pending(business, 60, "+14155550102")
    with_sid = make_pending(business, 600, "+14155550103", call_sid=sid(1))
    queued = make_pending(business, 600, "+14155550104", status="queued")
    assert tasks.cleanup_orphaned_calls() == 0
    for call in (young, with_sid, queued):
        before = call.status
        call.refresh_from_db()
        assert call.status == before
        assert call.error_code == ""


def test_a_sent_call_ages_from_its_dial_stamp_not_from_its_row(
    business, queue, django_capture_on_commit_callbacks
):
    # Claimed ten minutes ago but sent only 30 s ago (it waited for a token): not an orphan yet.
    recent = make_pending(business, 600, "+14155550105", stamped_seconds=30)
    # Sent 121 s ago with no word from Twilio since: reconcile asks Twilio about it.
    silent = make_pending(business, 200, "+14155550106", stamped_seconds=121)
    with django_capture_on_commit_callbacks(execute=True):
        result = cleanup_run()
    assert (result.failed, result.reconciling) == (0, 1)
    assert queue() == [("calls.tasks.reconcile_call", (silent.pk,))]
    for call in (recent, silent):
        call.refresh_from_db()
        assert (call.status, call.error_code) == ("pending", "")


def test_a_call_never_sent_ages_from_its_row(business, queue):
    young = make_pending(business, 100, "+14155550107")
    assert cleanup_fail_never_sent() == 0
    assert cleanup_queue_reconciles() == 0
    young.refresh_from_db()
    assert young.status == "pending"


@override_settings(ORPHAN_CALL_SECONDS=10)
def test_the_threshold_comes_from_the_setting(business):
    make_pending(business, 11, "+14155550106")
    assert cleanup_fail_never_sent() == 1


def test_an_orphan_frees_its_request_to_be_retried_without_counting_the_attempt(
    business, queue, django_capture_on_commit_callbacks
):
    request = make_request(business, number="+14155550107", status="active", attempts=1)
    call = make_pending(business, 200, "+14155550107", request=request)
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_fail_never_sent() == 1
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 0)
    assert "never sent" in request.last_error
    assert ("calls.tasks.dispatch", (business.pk,)) in queue()
    call.refresh_from_db()
    assert call.status == "failed"


def test_a_callback_that_lands_between_read_and_write_wins(business, monkeypatch):
    call = make_pending(business, 300, "+14155550108")
    real_call_fail = cleanup.call_fail

    def callback_then_fail(**kwargs):
        # The callback arrives after the cleanup read the row, before it writes.
        CallLog.objects.filter(pk=call.pk).update(call_sid=sid(9), status="ringing")
        return real_call_fail(**kwargs)

    monkeypatch.setattr(cleanup, "call_fail", callback_then_fail)
    assert cleanup_fail_never_sent() == 0
    call.refresh_from_db()
    assert (call.status, call.error_code) == ("ringing", "")


def test_a_create_sent_between_read_and_write_is_not_failed_as_never_sent(business, monkeypatch):
    request = make_request(business, number="+14155550112", status="active", attempts=1)
    call = make_pending(business, 300, "+14155550112", request=request)
    real_call_fail = cleanup.call_fail

    def stamped_then_fail(**kwargs):
        # A slow dispatch stamps and sends the create after the cleanup read the row.
        CallLog.objects.filter(pk=call.pk).update(dial_started_at=timezone.now())
        return real_call_fail(**kwargs)

    monkeypatch.setattr(cleanup, "call_fail", stamped_then_fail)
    assert cleanup_fail_never_sent() == 0
    call.refresh_from_db()
    request.refresh_from_db()
    assert (call.status, call.error_code, request.status) == ("pending", "", "active")


def test_the_lease_keeps_a_second_run_out_and_records_success(old_orphan):
    holder = lease_take(name=CLEANUP_LEASE, seconds=60)
    assert holder
    result = cleanup_run()
    assert result.skipped
    old_orphan.refresh_from_db()
    assert old_orphan.status == "pending"
    lease_release(name=CLEANUP_LEASE, holder=holder, succeeded=False)
    result = cleanup_run()
    assert not result.skipped and result.failed == 1
    assert Lease.objects.get(name="cleanup").last_succeeded_at is not None


def test_an_expired_lease_is_taken_over(old_orphan):
    lease_take(name=CLEANUP_LEASE, seconds=60)
    Lease.objects.filter(name="cleanup").update(held_until=timezone.now() - timedelta(seconds=1))
    assert cleanup_run().failed == 1


def test_it_queues_the_lead_task_for_ended_calls_without_a_lead(
    business, queue, django_capture_on_commit_callbacks
):
    now = timezone.now()
    make_call(business, number="+14155550109", call_sid=sid(2), status="completed", ended_at=now)
    make_call(
        business, number="+14155550110", call_sid=sid(3), status="completed",
        ended_at=now - timedelta(days=2),
    )  # fmt: skip
    lead = Lead.objects.create(business=business, phone_number="+14155550111")
    make_call(
        business, number="+14155550111", call_sid=sid(4), status="completed", ended_at=now,
        lead=lead,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_nudge_leads() == 1
    assert queue() == [("leads.tasks.create_lead_from_call", (sid(2),))]


def test_its_queries_follow_the_orphans_not_the_table(business):
    def queries_for_three_orphans(prefix):
        for n in range(3):
            make_pending(business, 300, f"+1415555{prefix}{n}")
        with CaptureQueriesContext(connection) as captured:
            assert cleanup_fail_never_sent() == 3
        return len(captured)

    few = queries_for_three_orphans("020")
    CallLog.objects.bulk_create(
        CallLog(business=business, direction="outbound", to_number=f"+1415555{n:04d}",
                status="completed")
        for n in range(4000, 4300)
    )  # fmt: skip
    assert queries_for_three_orphans("030") == few


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_cleanups_racing_fail_each_orphan_once(business):
    orphans = [make_pending(business, 300, f"+1415555030{n}") for n in range(8)]
    # Each run bypasses the lease to race on the rows themselves.
    results = race(cleanup_fail_never_sent, cleanup_fail_never_sent)
    assert sum(results) == 8
    assert CallLog.objects.filter(pk__in=[o.pk for o in orphans], status="failed").count() == 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_one_of_two_racing_runs_takes_the_lease(business):
    def take():
        with transaction.atomic():
            return lease_take(name="race", seconds=60)

    taken = race(take, take)
    assert len([t for t in taken if t]) == 1
