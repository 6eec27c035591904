"""Whether a claimed call may still be placed is judged again right before its create: a claim
may wait for its calls-per-second token, and the window may close, the number be listed, the
campaign paused or the request canceled meanwhile."""

from datetime import UTC, datetime, timedelta

import pytest

import calls.services.placing as placing
from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from calls.services.dispatch import business_claim
from calls.services.operator_actions import calls_hang_up, campaign_set_status
from calls.services.placing import Placed, call_place
from tests.recipes import make_request

NEW_YORK = "+12125550123"
# Wednesday 14 January 2026, 20:59:59 in New York (EST, UTC-5).
BEFORE_NINE = datetime(2026, 1, 15, 1, 59, 59, tzinfo=UTC)

DAILY = "outside the calling window (08:00–21:00, every day)"


@pytest.fixture
def claimed(business):
    make_request(business, number=NEW_YORK)

    def claim():
        (call_id,) = business_claim(business_id=business.pk)
        return CallLog.objects.get(pk=call_id)

    return claim


def test_a_claim_made_inside_the_window_and_sent_after_it_closed_is_held_not_dialed(
    business, claimed, fake_twilio, window_clock
):
    """Scenario 8: claimed at 20:59:59 local, its token came at 21:00:25."""
    window_clock.set(BEFORE_NINE)
    call = claimed()
    window_clock.set(BEFORE_NINE + timedelta(seconds=26))

    assert call_place(call_id=call.pk) is Placed.RELEASED

    assert fake_twilio.created == []
    assert not CallLog.objects.exists()
    request = CallRequest.objects.get()
    assert (request.status, request.attempts, request.window_holds) == ("queued", 0, 1)
    # The next morning at 08:00 in New York.
    assert request.next_attempt_at == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert request.held_reason == f"{DAILY} until Thu 08:00 EST"
    assert request.held_rule == ""


@pytest.mark.parametrize("scope", ["business", "every business"])
def test_a_number_listed_between_claim_and_send_is_never_dialed(
    business, claimed, fake_twilio, scope
):
    call = claimed()
    DoNotCall.objects.create(
        business=business if scope == "business" else None,
        phone_number=NEW_YORK,
        reason="asked by phone",
    )

    call_place(call_id=call.pk)

    assert fake_twilio.created == []
    assert not CallLog.objects.exists()
    request = CallRequest.objects.get()
    assert request.status == "canceled"
    assert request.last_error.startswith("On the do-not-call list")
    assert request.attempts == 0


def test_a_listing_that_lands_after_the_check_still_stops_the_create(
    business, claimed, fake_twilio, monkeypatch
):
    """The stamp's UPDATE repeats the do-not-call condition: a listing committed between the
    check and the stamp is honoured too (forced here by a check that saw nothing)."""
    call = claimed()
    DoNotCall.objects.create(business=business, phone_number=NEW_YORK)
    real = placing.call_send_refusal
    checks = iter([None])
    monkeypatch.setattr(placing, "call_send_refusal", lambda c: next(checks, None) or real(c))

    call_place(call_id=call.pk)

    assert fake_twilio.created == []
    assert CallRequest.objects.get().status == "canceled"


@pytest.mark.parametrize(
    ("status", "request_status"),
    [("paused", "queued"), ("stopping", "queued"), ("canceled", "canceled")],
)
def test_a_campaign_that_stopped_dialing_between_claim_and_send_places_nothing(
    business, fake_twilio, status, request_status
):
    campaign = Campaign.objects.create(business=business, name="Spring")
    make_request(business, number=NEW_YORK, campaign=campaign)
    (call_id,) = business_claim(business_id=business.pk)
    campaign_set_status(campaign_id=campaign.pk, status=status)

    assert call_place(call_id=call_id) is Placed.RELEASED

    assert fake_twilio.created == []
    request = CallRequest.objects.get()
    assert (request.status, request.attempts) == (request_status, 0)


def test_a_call_hung_up_between_claim_and_send_is_never_sent(business, claimed, fake_twilio):
    call = claimed()
    calls_hang_up(call_ids=[call.pk])

    call_place(call_id=call.pk)

    assert fake_twilio.created == []
    request = CallRequest.objects.get()
    assert request.status == "canceled"
