"""Cleanup (a)-(c) and reconcile_call: unconfirmed and silent calls are settled with Twilio."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls import tasks
from calls.models import CallEvent, CallLog, CallRequest
from calls.services.cleanup import cleanup_nudge_dispatch, cleanup_queue_reconciles, cleanup_run
from calls.services.enqueue import enqueue_outbound_call
from calls.twilio_client import ErrorKind, TwilioError
from tests import recipes
from tests.recipes import age_call, make_call, make_request, sid

NUMBER = "+14155551234"


@pytest.fixture
def unconfirmed(business, fake_twilio):
    """An attempt whose create got a 5xx: stamped, pending, no SID, slot held."""
    fake_twilio.create_error = TwilioError(kind=ErrorKind.UNKNOWN, code="500", message="boom")
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    fake_twilio.create_error = None
    call = CallLog.objects.get(request=request)
    assert (call.status, call.call_sid) == ("pending", None)
    return request, call


def age(call, seconds):
    return age_call(call, seconds, stamped_seconds=seconds)


def twilio_call(call_sid, status="in-progress", created=None, **fields):
    return recipes.twilio_call(call_sid, status, created=created, to=NUMBER, **fields)


def test_the_cleanup_asks_reconcile_about_a_stamped_orphan_instead_of_failing_it(
    unconfirmed, queue, django_capture_on_commit_callbacks
):
    _, call = unconfirmed
    age(call, 200)
    with django_capture_on_commit_callbacks(execute=True):
        result = cleanup_run()
    assert (result.failed, result.reconciling) == (0, 1)
    assert ("calls.tasks.reconcile_call", (call.pk,)) in queue()
    call.refresh_from_db()
    assert call.status == "pending"


def test_a_5xx_create_whose_call_twilio_placed_is_adopted_not_placed_again(
    unconfirmed, fake_twilio
):
    request, call = unconfirmed
    age(call, 200)
    twilio_sid = sid("5")
    fake_twilio.listing = [
        twilio_call(sid("4"), created=timezone.now() - timedelta(hours=1)),  # older call
        twilio_call(twilio_sid, status="completed", created=call.dial_started_at, duration=12),
    ]
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    request.refresh_from_db()
    assert (call.call_sid, call.status, call.ended_by) == (twilio_sid, "completed", "reconcile")
    assert call.duration_seconds == 12
    assert request.status == "done"
    assert len(fake_twilio.created) == 1
    assert CallEvent.objects.get(call=call).source == "reconcile"


def test_an_adopted_call_that_is_still_live_keeps_its_slot(unconfirmed, fake_twilio):
    request, call = unconfirmed
    age(call, 200)
    fake_twilio.listing = [twilio_call(sid("5"), status="ringing", created=call.dial_started_at)]
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.call_sid) == ("ringing", sid("5"))
    request.refresh_from_db()
    assert request.status == "active"


def look_twice(call, settings):
    """Reconciles the call, then again once Twilio's list has had time to catch up."""
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.unlisted_since is not None) == ("pending", True)
    CallLog.objects.filter(pk=call.pk).update(
        unlisted_since=timezone.now() - timedelta(seconds=settings.TWILIO_LIST_LAG_SECONDS)
    )
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()


def test_a_sid_already_stored_on_another_call_is_not_adopted(
    unconfirmed, fake_twilio, business, settings
):
    _, call = unconfirmed
    age(call, 200)
    known = sid("6")
    make_call(business, number=NUMBER, call_sid=known, status="busy")
    fake_twilio.listing = [twilio_call(known, status="busy", created=call.dial_started_at)]
    look_twice(call, settings)
    assert (call.status, call.call_sid, call.error_code) == ("failed", None, "not-found")


def test_an_orphan_twilio_never_placed_is_failed_and_its_request_requeued(
    unconfirmed, fake_twilio, settings
):
    request, call = unconfirmed
    age(call, 200)
    look_twice(call, settings)
    request.refresh_from_db()
    assert (call.status, call.error_code, call.ended_by) == ("failed", "not-found", "reconcile")
    assert "no record of this call" in call.error_message
    assert (request.status, request.attempts) == ("queued", 0)


def test_one_miss_in_twilios_list_is_never_taken_as_never_placed(
    unconfirmed, fake_twilio, settings
):
    request, call = unconfirmed
    age(call, 200)
    tasks.reconcile_call(call.pk)
    tasks.reconcile_call(call.pk)  # a second look too soon after the first proves nothing more
    call.refresh_from_db()
    assert (call.status, call.call_sid) == ("pending", None)
    lag = timedelta(seconds=settings.TWILIO_LIST_LAG_SECONDS)
    assert call.nudge_due_at >= timezone.now() + lag - timedelta(seconds=5)
    # The list catches up: the call Twilio did place is adopted, never dialed again.
    fake_twilio.listing = [twilio_call(sid("5"), status="ringing", created=call.dial_started_at)]
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    request.refresh_from_db()
    assert (call.status, call.call_sid, request.status) == ("ringing", sid("5"), "active")
    assert len(fake_twilio.created) == 1


def test_a_silent_call_with_a_sid_is_fetched_and_settled(business, fake_twilio, settings):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    age(call, settings.RECONCILE_AFTER_SECONDS + 5)
    assert cleanup_queue_reconciles() == 1
    fake_twilio.calls[call.call_sid] = twilio_call(call.call_sid, status="no-answer")
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.ended_by) == ("no-answer", "reconcile")
    assert fake_twilio.fetched == [call.call_sid]


def test_a_long_call_still_live_is_left_alone_and_its_silence_clock_restarts(
    business, fake_twilio, settings
):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    CallLog.objects.filter(pk=call.pk).update(status="in-progress")
    age(call, settings.STUCK_CALL_SECONDS + 100)
    fake_twilio.calls[call.call_sid] = twilio_call(call.call_sid, status="in-progress")
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert call.status == "in-progress"
    assert timezone.now() - call.updated_at < timedelta(seconds=5)
    assert cleanup_queue_reconciles() == 0


def test_twilio_unable_to_answer_fails_the_call_only_after_the_stuck_limit(
    business, fake_twilio, monkeypatch, settings
):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()

    def down(*, account, sid):
        raise TwilioError(kind=ErrorKind.UNKNOWN, code="read-timeout", message="no answer")

    monkeypatch.setattr("calls.twilio_client.call_fetch", down)
    age(call, settings.RECONCILE_AFTER_SECONDS + 5)
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert call.status == "queued"
    age(call, settings.STUCK_CALL_SECONDS + 5)
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    assert (call.status, call.error_code, call.ended_by) == ("failed", "unreachable", "reconcile")
    assert "no answer" in call.error_message
    assert CallRequest.objects.get().status == "queued"


def test_reconcile_of_a_final_call_asks_twilio_nothing(business, fake_twilio):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    CallLog.objects.filter(pk=call.pk).update(status="completed")
    tasks.reconcile_call(call.pk)
    tasks.reconcile_call(999999)
    assert fake_twilio.fetched == []


def test_the_cleanup_dispatches_businesses_with_a_free_slot_and_a_due_request(
    business, queue, django_capture_on_commit_callbacks
):
    from model_bakery import baker

    full = baker.make("calls.Business", phone_number="+14155550300", max_concurrent_calls=1)
    idle = baker.make("calls.Business", phone_number="+14155550301")
    paused = baker.make("calls.Business", phone_number="+14155550302", paused_reason="x")
    for owner in (business, full, paused):
        make_request(owner, number=NUMBER)
    make_call(full, number="+14155550999", status="ringing")
    assert idle.pk
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_nudge_dispatch() == 1
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


@pytest.fixture
def lagging_twilio(settings):
    """The local Twilio over real HTTP, listing a new call only a second after it was made."""
    from tests.integration.test_twilio_client import SID, TOKEN
    from twilio_sim.control import SimControl
    from twilio_sim.server import Simulator

    with Simulator(account_sid=SID, auth_token=TOKEN, port=0, list_delay=1.0) as sim:
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
        settings.TWILIO_API_BASE_URL = sim.base_url
        settings.TWILIO_LIST_LAG_SECONDS = 1.5
        control = SimControl(sim.base_url)
        control.configure(ring_seconds=30)
        yield control


@pytest.mark.parametrize("placed", [True, False])
def test_a_5xx_create_is_judged_never_placed_only_after_the_list_had_time_to_catch_up(
    business, lagging_twilio, placed
):
    import time

    lagging_twilio.configure(**{"create_500_placed" if placed else "create_500": 1}, cps=50)
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get(request=request)
    assert (call.status, call.call_sid, call.error_code) == ("pending", None, "20500")
    tasks.reconcile_call(call.pk)  # Twilio's list does not show the call yet
    call.refresh_from_db()
    assert (call.status, call.call_sid) == ("pending", None)
    time.sleep(1.6)  # past the list's delay and the service's lag
    tasks.reconcile_call(call.pk)
    call.refresh_from_db()
    request.refresh_from_db()
    records = lagging_twilio.calls()
    if placed:
        (record,) = records
        assert (call.call_sid, call.status, request.status) == (record["sid"], "ringing", "active")
        assert record["status"] == "ringing"  # adopted as Twilio lists it, not placed again
    else:
        assert records == []
        assert (call.status, call.error_code, request.status) == ("failed", "not-found", "queued")
