import pytest
from django.utils import timezone
from model_bakery import baker

from calls.models import CallEvent, CallLog, CallRequest, Campaign, DialingControl
from leads.models import Lead


@pytest.fixture
def operator(admin_client):
    return admin_client


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def call(business):
    call = baker.make(
        CallLog,
        business=business,
        direction="outbound",
        from_number=business.phone_number,
        to_number="+14155550123",
        call_sid="CA" + "a" * 32,
        status="ringing",
    )
    baker.make(CallEvent, call=call, status="ringing", sequence_number=1, applied=True)
    return call


@pytest.mark.parametrize(
    "url",
    [
        "/admin/calls/business/",
        "/admin/calls/calllog/",
        "/admin/calls/calllog/?status__exact=failed&direction__exact=outbound&has_error=yes",
        "/admin/calls/calllog/?ended_by__exact=cleanup",
        "/admin/calls/calllog/?q=CAaaaa",
        "/admin/calls/callrequest/",
        "/admin/calls/campaign/",
        "/admin/calls/dialingcontrol/",
        "/admin/leads/lead/",
    ],
)
def test_every_list_renders(operator, call, url):
    assert operator.get(url).status_code == 200


def test_a_call_page_shows_its_events_and_keeps_twilios_fields_read_only(operator, call):
    response = operator.get(f"/admin/calls/calllog/{call.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Call events" in body
    assert 'name="status"' not in body
    assert 'name="call_sid"' not in body


def test_the_error_filter_separates_calls_with_an_error(operator, call, business):
    baker.make(
        CallLog, business=business, direction="outbound", to_number="+14155550999",
        status="failed", error_code="never-sent",
    )  # fmt: skip
    response = operator.get("/admin/calls/calllog/?has_error=yes")
    assert response.context["cl"].result_count == 1


def test_the_campaign_list_counts_progress_from_its_requests(operator, business):
    campaign = baker.make(Campaign, business=business, name="spring")
    for status in ("done", "done", "failed", "queued"):
        baker.make(
            CallRequest, business=business, campaign=campaign, status=status,
            next_attempt_at=timezone.now(),
        )  # fmt: skip
    body = operator.get("/admin/calls/campaign/").content.decode()
    assert "3/4 settled (1 queued, 2 done, 1 failed)" in body


def test_the_cancel_action_cancels_queued_requests(operator, business, queue):
    campaign = baker.make(Campaign, business=business, name="spring")
    request = baker.make(
        CallRequest, business=business, campaign=campaign, next_attempt_at=timezone.now()
    )
    response = operator.post(
        "/admin/calls/campaign/",
        {"action": "cancel", "_selected_action": [campaign.pk]},
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    request.refresh_from_db()
    assert (campaign.status, request.status) == ("canceled", "canceled")


def test_hang_up_and_reconcile_actions_queue_their_tasks(operator, call, queue, on_commit):
    with on_commit(execute=True):
        for action in ("hang_up", "reconcile"):
            operator.post(
                "/admin/calls/calllog/", {"action": action, "_selected_action": [call.pk]}
            )
    assert queue() == [
        ("calls.tasks.hang_up_call", (call.pk,)),
        ("calls.tasks.reconcile_call", (call.pk,)),
    ]


def test_resume_clears_a_business_pause_and_dispatches(operator, business, queue, on_commit):
    business.paused_reason = "20003: Authenticate"
    business.save()
    with on_commit(execute=True):
        operator.post(
            "/admin/calls/business/", {"action": "resume", "_selected_action": [business.pk]}
        )
    business.refresh_from_db()
    assert business.paused_reason == ""
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


def test_call_selected_leads_queues_a_request_per_lead(operator, business, queue, on_commit):
    lead = baker.make(Lead, business=business, phone_number="+14155550177")
    with on_commit(execute=True):
        response = operator.post(
            "/admin/leads/lead/", {"action": "call_selected", "_selected_action": [lead.pk]}
        )
    assert response.status_code == 302
    request = CallRequest.objects.get()
    assert (request.lead, request.to_number, request.status) == (lead, lead.phone_number, "queued")
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


def test_pausing_all_dialing_is_one_switch(operator, db):
    control = DialingControl.get()
    response = operator.post(
        f"/admin/calls/dialingcontrol/{control.pk}/change/",
        {"paused": "on", "reason": "carrier incident"},
    )
    assert response.status_code == 302
    control.refresh_from_db()
    assert control.paused and control.reason == "carrier incident"
