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


def test_a_long_twilio_outage_costs_each_silent_call_a_bounded_number_of_reconciles(
    business, queue, django_capture_on_commit_callbacks, monkeypatch, settings
):
    call = make_pending(business, 0, "+14155550113", call_sid=sid(5), status="ringing")
    silent_since = timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS + 1)
    CallLog.objects.filter(pk=call.pk).update(updated_at=silent_since)
    start = timezone.now()
    queued = 0
    # The cleanup runs every minute for half an hour; Twilio never answers, so reconcile never
    # hears from it and the call stays silent.
    for minute in range(30):
        monkeypatch.setattr(
            cleanup.timezone, "now", lambda m=minute: start + timedelta(minutes=m, seconds=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            queued += cleanup_queue_reconciles()
    assert queued == len(queue()) == 5  # minutes 0, 1, 3, 7, 15 (then every 15 minutes)
    call.refresh_from_db()
    assert call.nudge_count == 5


def test_a_call_twilio_answered_for_is_nudged_afresh_next_time(business, fake_twilio, settings):
    call = make_pending(business, 0, "+14155550114", call_sid=sid(6), status="in-progress")
    CallLog.objects.filter(pk=call.pk).update(
        nudge_count=4, nudge_due_at=timezone.now() - timedelta(seconds=1)
    )
    from tests.recipes import twilio_call

    fake_twilio.calls[sid(6)] = twilio_call(sid(6), "in-progress", to="+14155550114")
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert (call.nudge_count, call.nudge_due_at) == (0, None)


def test_an_unconfirmed_hang_up_is_asked_again_with_backoff_until_the_call_ends(
    business, fake_twilio, queue, django_capture_on_commit_callbacks
):
    from calls.services.operator_actions import calls_hang_up
    from calls.twilio_client import ErrorKind, TwilioError

    call = make_pending(business, 0, "+14155550115", call_sid=sid(7), status="in-progress")
    fake_twilio.hang_up_error = TwilioError(kind=ErrorKind.UNKNOWN, code="20500", message="down")
    with django_capture_on_commit_callbacks(execute=True):
        assert calls_hang_up(call_ids=[call.pk]).changed == 1
    assert queue() == [("calls.tasks.hang_up_call", (call.pk,))]
    tasks.hang_up_call(call.pk)  # Twilio fails to answer: the call stays live
    call.refresh_from_db()
    assert call.status == "in-progress" and call.hang_up_requested_at is not None
    assert cleanup.cleanup_retry_hang_ups() == 0  # not yet due
    CallLog.objects.filter(pk=call.pk).update(nudge_due_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup.cleanup_retry_hang_ups() == 1
    assert queue().count(("calls.tasks.hang_up_call", (call.pk,))) == 2
    call.refresh_from_db()
    assert call.nudge_due_at > timezone.now() + timedelta(seconds=50)
    fake_twilio.hang_up_error = None
    tasks.hang_up_call(call.pk)  # Twilio hangs up and says so
    call.refresh_from_db()
    assert call.status == "completed"
    CallLog.objects.filter(pk=call.pk).update(nudge_due_at=timezone.now())
    assert cleanup.cleanup_retry_hang_ups() == 0  # ended: nothing more to ask
    assert fake_twilio.hung_up == [sid(7), sid(7)]


def test_a_lead_nudge_gives_up_after_a_bounded_number_of_tries_and_says_why(
    business, queue, django_capture_on_commit_callbacks
):
    now = timezone.now()
    call = make_call(
        business, number="+14155550116", call_sid=sid(8), status="completed", ended_at=now
    )
    for _ in range(cleanup.LEAD_NUDGE_LIMIT):
        CallLog.objects.filter(pk=call.pk).update(nudge_due_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            assert cleanup_nudge_leads() == 1
        assert cleanup_nudge_leads() == 0  # spaced: not again before its due time
    CallLog.objects.filter(pk=call.pk).update(nudge_due_at=None)
    assert cleanup_nudge_leads() == 0
    call.refresh_from_db()
    assert "did not make a lead in 5 tries" in call.no_lead_reason
    assert len(queue()) == cleanup.LEAD_NUDGE_LIMIT


def test_a_call_that_can_never_have_a_lead_is_not_nudged_again(
    business, queue, django_capture_on_commit_callbacks
):
    call = make_call(
        business, direction="inbound", number="anonymous", call_sid=sid(10),
        status="completed", ended_at=timezone.now(),
    )  # fmt: skip
    tasks.create_lead_from_call(sid(10))
    call.refresh_from_db()
    assert call.lead is None and "cannot be called back" in call.no_lead_reason
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_nudge_leads() == 0
    assert queue() == []


def test_the_nudge_queries_follow_the_stuck_calls_not_the_table(business, settings):
    def queries_for_three_silent_calls(prefix):
        for n in range(3):
            call = make_pending(
                business, 0, f"+1415555{prefix}{n}", call_sid=sid(int(f"{prefix}{n}"))
            )
            CallLog.objects.filter(pk=call.pk).update(
                status="ringing",
                updated_at=timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS + 1),
            )
        with CaptureQueriesContext(connection) as captured:
            assert cleanup_queue_reconciles() == 3
            cleanup.cleanup_retry_hang_ups()
            cleanup_nudge_leads()
        return len(captured)

    few = queries_for_three_silent_calls("040")
    CallLog.objects.bulk_create(
        CallLog(business=business, direction="outbound", to_number=f"+1415555{n:04d}",
                status="completed", call_sid=sid(n), ended_at=timezone.now() - timedelta(days=3))
        for n in range(5000, 5300)
    )  # fmt: skip
    assert queries_for_three_silent_calls("050") == few
