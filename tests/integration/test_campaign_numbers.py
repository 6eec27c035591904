"""Campaigns from the browser: a campaign is created with its numbers (pasted or a CSV file), each
row queued or refused with its reason; its page shows progress, KPIs, its requests and calls."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from leads.models import Lead
from tests.recipes import make_call, make_request, sid

ADD = "/admin/calls/campaign/add/"
PASTED = "(415) 555-0101, Ann Lee\n+14155550102\nnot a number\n415 555 0101\n\n+1 415 555 0103"


def add_form(business, **fields):
    return {
        "business": business.pk,
        "name": "Spring",
        "purpose": "informational",
        "say_text": "Hello from Acme.",
        "numbers": "",
        **fields,
    }


def test_a_campaign_is_created_with_its_pasted_numbers_and_the_refused_rows_are_shown(
    member_client, business, queue, django_capture_on_commit_callbacks
):
    client = member_client((business, "manager"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD, add_form(business, numbers=PASTED))
    assert response.status_code == 200
    body = response.content.decode()
    assert "3 queued</strong>, 2 refused" in body
    assert "&#x27;not a number&#x27; is not a phone number" in body
    assert "+14155550101 is listed twice (first on row 1)." in body
    campaign = Campaign.objects.get(name="Spring")
    numbers = sorted(campaign.requests.values_list("to_number", flat=True))
    assert numbers == ["+14155550101", "+14155550102", "+14155550103"]
    ann = Lead.objects.get(business=business, phone_number="+14155550101")
    assert (ann.name, ann.source) == ("Ann Lee", "import")
    assert campaign.requests.get(to_number="+14155550101").lead == ann
    # One dispatch for the lot.
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


def test_the_purpose_is_asked_with_nothing_chosen_and_fixed_once_the_campaign_exists(
    member_client, business
):
    client = member_client((business, "manager"))
    page = client.get(ADD).content.decode()
    assert '<option value="" selected>---------</option>' in page
    assert '<option value="telemarketing">' in page
    response = client.post(ADD, add_form(business, numbers=PASTED, purpose=""))
    assert response.context["adminform"].form.errors["purpose"] == ["This field is required."]
    assert not Campaign.objects.exists() and not CallRequest.objects.exists()

    client.post(ADD, add_form(business, numbers=PASTED, purpose="debt_collection"))
    campaign = Campaign.objects.get()
    assert campaign.purpose == "debt_collection"
    change = f"/admin/calls/campaign/{campaign.pk}/change/"
    assert 'name="purpose"' not in client.get(change).content.decode()
    client.post(change, {"name": "Spring", "purpose": "informational", "say_text": "Hi"})
    campaign.refresh_from_db()
    assert campaign.purpose == "debt_collection"


def test_a_list_with_no_callable_number_creates_nothing(member_client, business):
    client = member_client((business, "manager"))
    response = client.post(ADD, add_form(business, numbers="nope\n12"))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "No number can be called." in errors and "Row 1:" in errors
    assert not Campaign.objects.exists() and not CallRequest.objects.exists()


def test_no_campaign_starts_empty(member_client, business):
    response = member_client((business, "manager")).post(ADD, add_form(business))
    assert "Give at least one number" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_paused_business_gets_no_new_campaign(member_client, business):
    Business.objects.filter(pk=business.pk).update(paused_reason="Twilio refused it")
    response = member_client((business, "manager")).post(ADD, add_form(business, numbers=PASTED))
    assert "cannot dial now (Twilio refused it)" in response.content.decode()
    assert not Campaign.objects.exists()


def test_numbers_come_from_an_uploaded_csv_with_a_header(member_client, business):
    upload = SimpleUploadedFile(
        "numbers.csv", b"\xef\xbb\xbfphone,name\n4155550111,Bo\n4155550112,\n", "text/csv"
    )
    client = member_client((business, "manager"))
    response = client.post(ADD, {**add_form(business), "numbers_file": upload})
    assert "2 queued</strong>, 0 refused" in response.content.decode()
    assert Lead.objects.get(phone_number="+14155550111").name == "Bo"


def test_an_operator_adds_numbers_to_a_running_campaign(member_client, business, rival):
    campaign = Campaign.objects.create(business=business, name="Spring")
    make_request(business, number="+14155550121", campaign=campaign)
    client = member_client((business, "operator"))
    url = f"/admin/calls/campaign/{campaign.pk}/numbers/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"numbers": "+14155550121\n+14155550122"})
    body = response.content.decode()
    assert "1 queued</strong>, 1 refused" in body
    assert "+14155550121 is already queued or live in campaign" in body
    assert campaign.requests.count() == 2
    theirs = Campaign.objects.create(business=rival, name="Theirs")
    assert client.get(f"/admin/calls/campaign/{theirs.pk}/numbers/").status_code == 404


def test_a_viewer_cannot_add_numbers(member_client, business):
    campaign = Campaign.objects.create(business=business, name="Spring")
    client = member_client((business, "viewer"))
    url = f"/admin/calls/campaign/{campaign.pk}/numbers/"
    assert client.post(url, {"numbers": "+14155550131"}).status_code == 403
    assert not campaign.requests.exists()


def test_too_many_rows_are_refused_with_the_limit(member_client, business, settings):
    settings.CAMPAIGN_UPLOAD_MAX_ROWS = 2
    response = member_client((business, "manager")).post(ADD, add_form(business, numbers=PASTED))
    assert "at most 2 at once (CAMPAIGN_UPLOAD_MAX_ROWS)" in response.content.decode()


@pytest.fixture
def campaign_with_history(business):
    campaign = Campaign.objects.create(business=business, name="Spring")
    now = timezone.now()

    def attempt(number, statuses, request_status, duration=None):
        request = make_request(
            business,
            number=number,
            campaign=campaign,
            status=request_status,
            attempts=len(statuses),
        )
        for k, status in enumerate(statuses):
            placed = sid(CallLog.objects.count() + 1)  # Twilio took each: they are placed calls
            call = make_call(
                business, number=number, status=status, request=request, call_sid=placed
            )
            ended = {"ended_at": now - timedelta(minutes=5 - k)}
            if status == "completed":
                ended["duration_seconds"] = duration
            CallLog.objects.filter(pk=call.pk).update(**ended)
        return request

    attempt("+14155550141", ["busy", "completed"], "done", duration=60)
    attempt("+14155550142", ["no-answer", "no-answer", "completed"], "done", duration=30)
    attempt("+14155550143", ["failed"], "queued")
    return campaign


def test_its_page_shows_progress_kpis_and_its_requests(admin_client, campaign_with_history):
    url = f"/admin/calls/campaign/{campaign_with_history.pk}/change/"
    body = admin_client.get(url).content.decode()
    assert "2/3 settled" in body
    # 2 answered of 6 ended calls; 45 s average; 6 attempts for 2 people reached.
    assert "33 % (2 of 6 ended)" in body
    assert "45 s" in body
    assert "3.0 (6 attempts, 2 reached a person)" in body
    assert "+14155550143" in body and "The call could not be connected" in body
    assert f"?campaign={campaign_with_history.pk}" in body
    for label in ("Pause", "Stop", "Cancel"):
        assert f">{label}</button>" in body


def test_the_calls_list_filters_by_campaign(admin_client, campaign_with_history, business):
    make_call(business, number="+14155550199", status="completed")
    response = admin_client.get(f"/admin/calls/calllog/?campaign={campaign_with_history.pk}")
    calls = list(response.context["cl"].result_list)
    assert len(calls) == 6
    assert {c.request.campaign_id for c in calls} == {campaign_with_history.pk}


def test_a_viewer_sees_no_buttons(member_client, business, campaign_with_history):
    url = f"/admin/calls/campaign/{campaign_with_history.pk}/change/"
    body = member_client((business, "viewer")).get(url).content.decode()
    assert "campaign-actions" not in body and "Add numbers" not in body
