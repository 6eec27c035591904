"""Every status write of a request or a campaign goes through its table: a move the table forbids
changes nothing."""

from calls.models import CallRequest, Campaign
from calls.services.operator_actions import campaign_set_status
from tests.recipes import make_request


def test_a_request_move_the_table_forbids_changes_nothing(business):
    done = make_request(business, status="done")
    before = CallRequest.objects.get(pk=done.pk)
    assert CallRequest.objects.filter(pk=done.pk).status_move("active", attempts=9) == 0
    done.refresh_from_db()
    assert (done.status, done.attempts, done.updated_at) == ("done", 0, before.updated_at)


def test_a_request_move_the_table_allows_happens_once(business):
    request = make_request(business, status="queued")
    rows = CallRequest.objects.filter(pk=request.pk)
    assert rows.status_move("active") == 1
    # A second writer racing for the same move finds it made.
    assert rows.status_move("active") == 0
    request.refresh_from_db()
    assert request.status == "active"


def test_a_canceled_campaign_cannot_be_resumed(business, queue):
    campaign = Campaign.objects.create(business=business, name="spring", status="canceled")
    before = Campaign.objects.get(pk=campaign.pk)
    result = campaign_set_status(campaign_id=campaign.pk, status="running")
    assert (result.changed, dict(result.unchanged)) == (0, {"had been canceled": 1})
    campaign.refresh_from_db()
    assert (campaign.status, campaign.updated_at) == ("canceled", before.updated_at)
    assert queue() == []


def test_a_finished_campaign_cannot_be_paused(business, queue):
    campaign = Campaign.objects.create(business=business, name="spring", status="done")
    result = campaign_set_status(campaign_id=campaign.pk, status="paused")
    assert dict(result.unchanged) == {"had finished": 1}
    campaign.refresh_from_db()
    assert campaign.status == "done"
