"""The three deadlocks a review found on PostgreSQL, each forced in the order that closes the
cycle: one transaction pauses where it holds its first locks, the other takes its own and waits,
then the first goes on. With the lock order kept (Business → DialingControl → Campaign →
CallRequest → CallLog → Lead, and every mutex row lock FOR NO KEY UPDATE, which a foreign-key
check's FOR KEY SHARE does not wait for) both finish; before, PostgreSQL killed one."""

import threading
import time

import pytest
from django.db import connection

from calls.models import Business, CallLog, CallRequest, Campaign, DoNotCall
from calls.services.callbacks import call_callback_record
from calls.services.dispatch import business_dispatch
from calls.services.do_not_call import call_keypress_record
from calls.services.enqueue import enqueue_outbound_call
from calls.services.erasure import number_erase
from calls.services.operator_actions import (
    business_deactivate,
    campaign_set_status,
    request_cancel,
)
from calls.services.status import StatusReport
from tests.racing import run_at_once
from tests.recipes import make_call, make_request, sid

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Long enough for the other transaction to take its locks and start waiting.
PAUSE = 0.5


class Pause:
    """Wraps `function` so that, on its first call, it runs and then holds its transaction
    open for PAUSE seconds after telling `reached` (set) that it got there."""

    def __init__(self, function):
        self.function = function
        self.reached = threading.Event()

    def __call__(self, *args, **kwargs):
        result = self.function(*args, **kwargs)
        if not self.reached.is_set():
            self.reached.set()
            time.sleep(PAUSE)
        return result

    def after(self, function):
        def wait_then_run():
            assert self.reached.wait(10), "the first transaction never reached its pause"
            function()

        return wait_then_run


@pytest.fixture
def hooked_business(db):
    business = Business.objects.create(
        name="Hooked", phone_number="+14155550100", max_concurrent_calls=5
    )
    # Set directly: the URL's SSRF check is not what these tests are about.
    Business.objects.filter(pk=business.pk).update(
        webhook_url="https://hooks.example.com/calls", webhook_secret="whsec_" + "A" * 32
    )
    business.refresh_from_db()
    return business


def live_call(business, campaign, number, n):
    request = make_request(business, number=number, campaign=campaign, status="active", attempts=1)
    return make_call(business, number=number, request=request, call_sid=sid(n), status="ringing")


def settle(call):
    def run():
        call_callback_record(
            call=CallLog.objects.get(pk=call.pk),
            sid=call.call_sid,
            report=StatusReport(status="completed", sequence_number=5),
            sip_response_code=200,
            params={},
        )

    return run


@pytest.mark.parametrize("other", ["enqueue", "pause", "stop", "cancel", "erase"])
def test_a_settling_with_a_webhook_and_an_operator_on_the_same_campaign_both_finish(
    hooked_business, monkeypatch, other
):
    """Scenario 1: the callback holds the campaign and the request and inserts a webhook message
    (whose foreign key to the business is checked at COMMIT); the other side holds the business
    and waits for the campaign."""
    import webhooks.messages

    business = hooked_business
    campaign = Campaign.objects.create(business=business, name="Spring")
    call = live_call(business, campaign, "+14155550123", 1)
    make_request(business, number="+14155550124", campaign=campaign)
    pause = Pause(webhooks.messages.requests_settled_announce)
    monkeypatch.setattr(webhooks.messages, "requests_settled_announce", pause)
    operator = {
        "enqueue": lambda: enqueue_outbound_call(
            business=business, to_number="+14155550125", campaign=campaign
        ),
        "pause": lambda: campaign_set_status(campaign_id=campaign.pk, status="paused"),
        "stop": lambda: campaign_set_status(campaign_id=campaign.pk, status="stopping"),
        "cancel": lambda: campaign_set_status(
            campaign_id=campaign.pk, status="canceled", hang_up=True
        ),
        "erase": lambda: number_erase(business_id=business.pk, number="+14155550124", via="test"),
    }[other]

    errors = run_at_once(settle(call), pause.after(operator))

    assert errors == []
    call.refresh_from_db()
    assert call.status == "completed"
    assert CallRequest.objects.get(pk=call.request_id).status == "done"
    assert business.webhook_messages.filter(request_id=call.request_id).count() == 1


@pytest.mark.parametrize("other", ["deactivate", "cancel-and-hang-up"])
def test_an_opt_out_keypress_and_an_operator_hanging_up_both_finish(business, monkeypatch, other):
    """Scenario 2: the keypress updates the call, then lists the number (a DoNotCall row whose
    foreign key to the business is checked at COMMIT); the other side holds the business and
    waits for the call's row to record the hang-up."""
    import calls.services.do_not_call as do_not_call

    campaign = Campaign.objects.create(business=business, name="Spring")
    call = live_call(business, campaign, "+14155550123", 1)
    pause = Pause(do_not_call.do_not_call_add)
    monkeypatch.setattr(do_not_call, "do_not_call_add", pause)
    operator = {
        "deactivate": lambda: business_deactivate(business_id=business.pk),
        "cancel-and-hang-up": lambda: campaign_set_status(
            campaign_id=campaign.pk, status="canceled", hang_up=True
        ),
    }[other]

    def keypress():
        call_keypress_record(call=CallLog.objects.get(pk=call.pk), digits="9", call_sid=sid(1))

    errors = run_at_once(keypress, pause.after(operator))

    assert errors == []
    assert DoNotCall.objects.filter(business=business, phone_number="+14155550123").exists()
    call.refresh_from_db()
    assert call.digits == "9"
    assert call.hang_up_requested_at is not None


def test_a_stopping_campaign_finishing_and_a_request_cancel_both_finish(
    business, monkeypatch, fake_twilio
):
    """Scenario 3: dispatch ends a stopping campaign with no live call: it cancels the queued
    requests, then marks the campaign done; a request cancel takes the campaign, then the
    request."""
    import webhooks.messages

    campaign = Campaign.objects.create(business=business, name="Spring", status="stopping")
    first = make_request(business, number="+14155550123", campaign=campaign)
    make_request(business, number="+14155550124", campaign=campaign)
    pause = Pause(webhooks.messages.requests_settled_announce)
    monkeypatch.setattr(webhooks.messages, "requests_settled_announce", pause)

    errors = run_at_once(
        lambda: business_dispatch(business_id=business.pk),
        pause.after(lambda: request_cancel(request_id=first.pk)),
    )

    assert errors == []
    assert set(campaign.requests.values_list("status", flat=True)) == {"canceled"}
    campaign.refresh_from_db()
    assert campaign.status == "done"
    assert fake_twilio.created == []


def test_the_suite_can_see_a_deadlock(business):
    """The harness itself: two transactions taking two rows in opposite orders deadlock, and the
    error reaches the test (so the tests above would fail if their services still did)."""
    from django.db import transaction

    other = Business.objects.create(name="Other", phone_number="+14155550200")
    taken = threading.Barrier(2)

    def take(first, second):
        def run():
            with transaction.atomic():
                Business.objects.filter(pk=first).update(name="a")
                taken.wait()
                Business.objects.filter(pk=second).update(name="b")

        return run

    errors = run_at_once(take(business.pk, other.pk), take(other.pk, business.pk))

    assert len(errors) == 1
    assert "deadlock detected" in str(errors[0])
    assert connection.vendor == "postgresql"
