"""/api/v1/campaigns over HTTP: create with numbers, add numbers, read, pause, resume, stop,
cancel; through the admin's services, scoped to the key's business."""

import pytest

from calls.audit import OperatorAction
from calls.models import CallRequest, Campaign
from leads.models import Lead
from tests.api_client import api_for
from tests.recipes import consent_on_file, make_request

DISPATCH = "calls.tasks.dispatch"


@pytest.fixture
def api(client, business):
    return api_for(client, business)


def test_a_campaign_is_created_with_its_numbers_one_result_each(
    api, business, queue, django_capture_on_commit_callbacks
):
    numbers = [
        {"to": "+14155550123", "name": "Ann Lee"},
        {"to": "+10005550123"},  # E.164 in form, in no numbering plan
        {"to": "+14155550123"},
        {"to": "+14155550124"},
    ]
    for number in ("+14155550123", "+14155550124"):  # telemarketing needs a written consent
        consent_on_file(business, number)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/campaigns",
            {
                "name": "spring",
                "purpose": "telemarketing",
                "concurrency": 2,
                "voice": "woman",
                "numbers": numbers,
            },
        )
    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get()
    assert (body["id"], body["name"], body["status"]) == (campaign.pk, "spring", "running")
    assert body["purpose"] == campaign.purpose == "telemarketing"
    assert (campaign.concurrency, campaign.voice, campaign.business) == (2, "woman", business)
    assert campaign.say_text  # the model's default greeting
    assert [n["status"] for n in body["numbers"]] == ["queued", "refused", "refused", "queued"]
    assert "not a valid phone number" in body["numbers"][1]["reason"]
    assert "listed twice" in body["numbers"][2]["reason"]
    queued = CallRequest.objects.filter(campaign=campaign).order_by("id")
    assert [n["id"] for n in body["numbers"] if n["id"]] == [r.pk for r in queued]
    assert body["requests"]["queued"] == 2
    assert Lead.objects.get().name == "Ann Lee" and queued[0].lead.name == "Ann Lee"
    assert queue() == [(DISPATCH, (business.pk,))]


@pytest.mark.parametrize("purpose", [None, "", "sales"])
def test_a_campaign_without_a_known_purpose_is_refused_and_nothing_kept(api, queue, purpose):
    body = {"name": "spring", "numbers": [{"to": "+14155550123"}]}
    if purpose is not None:
        body["purpose"] = purpose
    response = api.post("/campaigns", body)
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["purpose"]
    assert not Campaign.objects.exists() and not CallRequest.objects.exists()
    assert queue() == []


def test_no_campaign_is_kept_when_no_number_can_be_queued(api, business, queue):
    business.paused_reason = "21210"
    business.save()
    response = api.post(
        "/campaigns",
        {"purpose": "informational", "name": "spring", "numbers": [{"to": "+14155550123"}]},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "no-number-queued"
    assert "is paused" in body["errors"][0]["message"]
    assert not Campaign.objects.exists() and not CallRequest.objects.exists()
    assert queue() == []


def test_a_taken_name_answers_409_and_a_recording_host_not_allowed_422(api, business):
    Campaign.objects.create(business=business, name="spring")
    numbers = [{"to": "+14155550123"}]
    response = api.post(
        "/campaigns", {"purpose": "informational", "name": "spring", "numbers": numbers}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "name-taken"
    response = api.post(
        "/campaigns",
        {
            "purpose": "informational",
            "name": "summer",
            "recording_url": "https://evil.example/a.mp3",
            "numbers": numbers,
        },
    )
    assert response.status_code == 422
    assert response.json()["code"] == "recording-host-not-allowed"
    assert response.json()["errors"][0]["field"] == "recording_url"
    assert Campaign.objects.count() == 1 and not CallRequest.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recording_url", "http://media.example.com/a.mp3"),
        ("recording_url", "https://localhost/a.mp3"),
        ("name", "Spring\x07"),
        ("voice", "robot"),
        ("concurrency", 1001),
    ],
)
def test_what_the_document_forbids_answers_400_naming_the_field(api, field, value):
    body = {
        "purpose": "informational",
        "name": "summer",
        "numbers": [{"to": "+14155550123"}],
        field: value,
    }
    response = api.post("/campaigns", body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
    assert not Campaign.objects.exists()


def test_a_number_not_in_e164_form_refuses_the_whole_campaign_naming_the_row(api):
    numbers = [{"to": "+14155550123"}, {"to": "(415) 555-0124"}]
    response = api.post(
        "/campaigns", {"purpose": "informational", "name": "spring", "numbers": numbers}
    )
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == "numbers.1.to" and "E.164" in error["message"]
    assert not Campaign.objects.exists()


def test_too_many_numbers_are_refused_whole(api, settings):
    settings.API_NUMBERS_MAX = 2
    numbers = [{"to": f"+1415555012{k}"} for k in range(3)]
    response = api.post(
        "/campaigns", {"purpose": "informational", "name": "spring", "numbers": numbers}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "numbers"
    assert not Campaign.objects.exists()


def test_numbers_are_added_to_a_campaign_one_result_each(
    api, business, queue, django_capture_on_commit_callbacks
):
    campaign = Campaign.objects.create(business=business, name="spring")
    make_request(business, campaign=campaign, number="+14155550123")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/campaigns/{campaign.pk}/numbers",
            {"numbers": [{"to": "+14155550123"}, {"to": "+14155550124", "name": "Bo"}]},
        )
    assert response.status_code == 200
    body = response.json()
    assert (body["queued"], body["refused"]) == (1, 1)
    assert "already queued or live in campaign 'spring'" in body["numbers"][0]["reason"]
    added = CallRequest.objects.get(pk=body["numbers"][1]["id"])
    assert (added.campaign, added.lead.name) == (campaign, "Bo")
    assert queue() == [(DISPATCH, (business.pk,))]


def test_a_campaign_is_paused_resumed_and_canceled(api, business, queue):
    campaign = Campaign.objects.create(business=business, name="spring")
    waiting = make_request(business, campaign=campaign)
    assert api.post(f"/campaigns/{campaign.pk}/pause").json()["status"] == "paused"
    again = api.post(f"/campaigns/{campaign.pk}/pause")
    assert again.status_code == 409 and "had that status already" in again.json()["detail"]
    assert api.post(f"/campaigns/{campaign.pk}/resume").json()["status"] == "running"
    assert api.post(f"/campaigns/{campaign.pk}/stop").json()["status"] == "stopping"
    response = api.post(f"/campaigns/{campaign.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response.json()["requests"]["canceled"] == 1
    waiting.refresh_from_db()
    assert (waiting.status, waiting.last_error) == ("canceled", "The campaign was canceled.")
    refused = api.post(f"/campaigns/{campaign.pk}/resume")
    assert refused.status_code == 409
    assert "had been canceled" in refused.json()["detail"]
    campaign.refresh_from_db()
    assert campaign.status == "canceled" and campaign.ended_at
    summaries = OperatorAction.objects.order_by("id").values_list("action", "summary")
    assert list(summaries)[:3] == [
        ("pause", "1 campaign paused."),
        ("pause", "0 campaigns paused: the selected campaign had that status already."),
        ("resume", "1 campaign resumed."),
    ]


def test_a_campaign_is_read_and_another_business_s_answers_404(api, business, rival):
    campaign = Campaign.objects.create(business=business, name="spring")
    make_request(business, campaign=campaign, status="done")
    body = api.get(f"/campaigns/{campaign.pk}").json()
    assert body["requests"] == {"queued": 0, "active": 0, "done": 1, "failed": 0, "canceled": 0}
    theirs = Campaign.objects.create(business=rival, name="theirs")
    for response in (
        api.get(f"/campaigns/{theirs.pk}"),
        api.post(f"/campaigns/{theirs.pk}/pause"),
        api.post(f"/campaigns/{theirs.pk}/numbers", {"numbers": [{"to": "+14155550123"}]}),
    ):
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "running" and not CallRequest.objects.filter(campaign=theirs)
