"""A campaign ends when it has nothing left to do, and only then: judged under the campaign's own
lock, by dispatch after each claim and by the cleanup every minute, so no request is stranded in
a finished campaign and no campaign runs forever with nothing to call."""

import pytest
from django.utils import timezone

from calls import tasks
from calls.models import CallRequest, Campaign
from calls.services.campaign_finishing import campaign_finish_idle, campaigns_finish_idle
from calls.services.cleanup import cleanup_run
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call
from calls.services.erasure import number_erase
from calls.services.operator_actions import request_retry_now
from tests.api_client import api_for
from tests.racing import run_at_once
from tests.recipes import make_call, make_request, sid

A, B = "+14155550123", "+14155550124"


@pytest.fixture
def campaign(business):
    return Campaign.objects.create(business=business, name="Spring")


def test_numbers_added_with_a_stale_campaign_after_it_finished_are_refused_not_stranded(
    business, campaign, fake_twilio
):
    """Scenario 4: the caller read the campaign running; the dispatch finished it since."""
    stale = Campaign.objects.get(pk=campaign.pk)
    request = make_request(business, number=A, campaign=campaign, status="done", attempts=1)
    tasks.dispatch(business.pk)
    campaign.refresh_from_db()
    assert campaign.status == "done"

    with pytest.raises(EnqueueRefused) as refused:
        enqueue_outbound_call(business=business, to_number=B, campaign=stale)

    assert refused.value.code == EnqueueRefused.CAMPAIGN_CLOSED
    assert list(campaign.requests.values_list("pk", flat=True)) == [request.pk]


def test_retry_now_runs_a_finished_campaign_again_and_it_finishes_only_when_idle(
    business, campaign, fake_twilio
):
    request = make_request(business, number=A, campaign=campaign, status="failed", attempts=3)
    campaigns_finish_idle()
    campaign.refresh_from_db()
    assert campaign.status == "done"

    request_retry_now(request_id=request.pk)

    campaign.refresh_from_db()
    assert campaign.status == "running"
    assert campaign_finish_idle(campaign_id=campaign.pk) is False  # a request is open
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [A]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_retry_now_racing_the_finish_never_leaves_a_queued_request_in_a_done_campaign(
    business, fake_twilio, round_
):
    """Scenario 4's second half, raced on two connections: whoever wins, the request ends up
    callable (its campaign running) or the retry is refused; never queued in a done campaign."""
    campaign = Campaign.objects.create(business=business, name=f"Spring {round_}")
    request = make_request(business, number=A, campaign=campaign, status="failed", attempts=1)

    errors = run_at_once(
        lambda: campaigns_finish_idle(business_id=business.pk),
        lambda: request_retry_now(request_id=request.pk),
    )

    assert errors == []
    request.refresh_from_db()
    campaign.refresh_from_db()
    assert request.status == "queued"
    assert campaign.status == "running"


def test_a_campaign_whose_last_request_is_canceled_over_the_api_ends_at_the_next_cleanup(
    business, campaign, client
):
    """Scenario 6: canceled outside any dispatch; no nudge follows."""
    request = make_request(business, number=A, campaign=campaign)
    response = api_for(client, business).post(f"/calls/{request.pk}/cancel")
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.status == "running"

    cleanup_run()

    campaign.refresh_from_db()
    assert (campaign.status, campaign.ended_at is not None) == ("done", True)


def test_a_campaign_whose_last_request_was_erased_ends_at_the_next_cleanup(business, campaign):
    make_request(business, number=A, campaign=campaign)
    number_erase(business_id=business.pk, number=A, via="test")

    cleanup_run()

    campaign.refresh_from_db()
    assert campaign.status == "done"


def test_a_campaign_whose_last_dispatch_nudge_was_lost_ends_at_the_next_cleanup(business, campaign):
    """The Redis broker lost the dispatch queued after the last call settled."""
    request = make_request(business, number=A, campaign=campaign, status="active", attempts=1)
    call = make_call(business, number=A, request=request, call_sid=sid(1), status="ringing")
    CallRequest.objects.filter(pk=request.pk).update(status="done")
    call.status = "completed"
    call.save()

    cleanup_run()

    campaign.refresh_from_db()
    assert campaign.status == "done"


def test_a_stopping_campaign_ends_once_its_live_calls_end_and_cancels_what_was_queued(
    business, campaign
):
    live = make_request(business, number=A, campaign=campaign, status="active", attempts=1)
    queued = make_request(business, number=B, campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status="stopping")

    assert campaign_finish_idle(campaign_id=campaign.pk) is False
    queued.refresh_from_db()
    assert queued.status == "queued"

    CallRequest.objects.filter(pk=live.pk).update(status="done")
    assert campaign_finish_idle(campaign_id=campaign.pk) is True
    queued.refresh_from_db()
    campaign.refresh_from_db()
    assert (queued.status, queued.last_error) == ("canceled", "The campaign was stopped.")
    assert campaign.status == "done"


@pytest.mark.parametrize("status", ["paused", "done", "canceled"])
def test_only_running_and_stopping_campaigns_are_ended(business, campaign, status):
    make_request(business, number=A, campaign=campaign, status="done")
    Campaign.objects.filter(pk=campaign.pk).update(status=status, ended_at=timezone.now())

    assert campaigns_finish_idle() == 0

    campaign.refresh_from_db()
    assert campaign.status == status
