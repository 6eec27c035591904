"""The operators' admin: every page renders, actions do what they say and say what they did."""

import pytest
from django.contrib.messages import get_messages

from calls.models import Business, CallEvent, CallLog, CallRequest, Campaign, DialingControl
from leads.models import Lead
from tests.recipes import make_call, make_request, sid


@pytest.fixture
def operator(admin_client):
    return admin_client


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def call(business):
    call = make_call(business, call_sid=sid("a"), status="ringing")
    CallEvent.objects.create(call=call, status="ringing", sequence_number=1, applied=True)
    return call


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def act(operator, model, action, *rows):
    """Runs an action as confirmed (`post=yes`, what its confirmation page sends)."""
    return operator.post(
        f"/admin/{model._meta.app_label}/{model._meta.model_name}/",
        {"action": action, "_selected_action": [row.pk for row in rows], "post": "yes"},
        follow=True,
    )


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
        "/admin/calls/membership/",
        "/admin/calls/operatoraction/",
        "/admin/calls/numbererasure/",
        "/admin/leads/lead/",
        "/admin/django_q/schedule/",
    ],
)
def test_every_list_renders(operator, call, url):
    assert operator.get(url).status_code == 200


def test_a_call_page_shows_its_events_and_keeps_twilios_fields_read_only(operator, call):
    response = operator.get(f"/admin/calls/calllog/{call.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Callbacks and reconciles, with Twilio" in body
    assert 'name="status"' not in body
    assert 'name="call_sid"' not in body


def test_a_search_by_sid_finds_that_call_only(operator, call, business):
    make_call(business, number="+14155550998", call_sid=sid("b"), status="completed")
    response = operator.get(f"/admin/calls/calllog/?q={call.call_sid}")
    assert list(response.context["cl"].result_list) == [call]
    response = operator.get("/admin/calls/calllog/?q=+14155550998")
    assert [c.call_sid for c in response.context["cl"].result_list] == [sid("b")]


def test_the_error_filter_separates_calls_with_an_error(operator, call, business):
    make_call(business, number="+14155550999", status="failed", error_code="never-sent")
    response = operator.get("/admin/calls/calllog/?has_error=yes")
    assert response.context["cl"].result_count == 1


def test_the_campaign_list_counts_progress_from_its_requests(operator, business):
    campaign = Campaign.objects.create(business=business, name="spring")
    for n, status in enumerate(("done", "done", "failed", "queued")):
        make_request(business, number=f"+1415555012{n}", campaign=campaign, status=status)
    body = operator.get("/admin/calls/campaign/").content.decode()
    assert "3/4 settled (1 queued, 2 done, 1 failed)" in body


def test_the_cancel_action_cancels_queued_requests_and_says_so(operator, business, queue):
    campaign = Campaign.objects.create(business=business, name="spring")
    request = make_request(business, campaign=campaign)
    response = act(operator, Campaign, "cancel", campaign)
    assert messages_of(response) == ["1 campaign set to canceled."]
    campaign.refresh_from_db()
    request.refresh_from_db()
    assert (campaign.status, request.status) == ("canceled", "canceled")
    assert campaign.ended_at is not None


def test_a_move_the_campaign_table_forbids_is_refused_and_reported(operator, business, queue):
    canceled = Campaign.objects.create(business=business, name="old", status="canceled")
    paused = Campaign.objects.create(business=business, name="new", status="paused")
    response = act(operator, Campaign, "resume", canceled, paused)
    assert messages_of(response) == ["1 campaign set to running; 1 had been canceled."]
    canceled.refresh_from_db()
    paused.refresh_from_db()
    assert (canceled.status, paused.status) == ("canceled", "running")


def test_hang_up_and_reconcile_actions_queue_their_tasks(operator, call, queue, on_commit):
    ended = make_call(call.business, number="+14155550124", status="completed")
    with on_commit(execute=True):
        hang_up = act(operator, CallLog, "hang_up", call, ended)
        reconcile = act(operator, CallLog, "reconcile", call)
    assert messages_of(hang_up) == ["1 call queued to hang up; 1 had already ended."]
    assert messages_of(reconcile) == ["1 call queued to reconcile."]
    assert queue() == [
        ("calls.tasks.hang_up_call", (call.pk,)),
        ("calls.tasks.reconcile_call", (call.pk,)),
    ]


def test_an_action_that_changes_nothing_says_why(operator, business, queue):
    ended = make_call(business, status="completed")
    response = act(operator, CallLog, "hang_up", ended)
    assert messages_of(response) == [
        "0 calls queued to hang up: the selected call had already ended."
    ]
    assert queue() == []


def test_resume_clears_a_business_pause_and_dispatches(operator, business, queue, on_commit):
    business.paused_reason = "20003: Authenticate"
    business.save()
    running = Business.objects.create(name="Running", phone_number="+14155550200")
    with on_commit(execute=True):
        response = act(operator, Business, "resume", business, running)
    assert messages_of(response) == ["1 business resumed; 1 had no pause to clear."]
    business.refresh_from_db()
    assert business.paused_reason == ""
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


def test_call_selected_leads_queues_a_request_per_lead(operator, business, queue, on_commit):
    lead = Lead.objects.create(business=business, phone_number="+14155550177")
    with on_commit(execute=True):
        response = operator.post(
            "/admin/leads/lead/",
            {"action": "call_selected", "_selected_action": [lead.pk], "post": "yes"},
        )
    assert response.status_code == 302
    request = CallRequest.objects.get()
    assert (request.lead, request.to_number, request.status) == (lead, lead.phone_number, "queued")
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


def test_pausing_all_dialing_is_one_switch_and_resuming_it_dispatches(
    operator, business, queue, on_commit
):
    control = DialingControl.get()
    url = f"/admin/calls/dialingcontrol/{control.pk}/change/"
    with on_commit(execute=True):
        response = operator.post(url, {"paused": "on", "reason": "carrier incident"})
    assert response.status_code == 302
    control.refresh_from_db()
    assert control.paused and control.reason == "carrier incident"
    assert queue() == []
    with on_commit(execute=True):
        operator.post(url, {"reason": ""})
    control.refresh_from_db()
    assert not control.paused
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


def test_view_site_goes_to_the_dashboard(operator):
    body = operator.get("/admin/").content.decode()
    assert '<a href="/admin/dashboard/">View site</a>' in body
    assert operator.get("/admin/dashboard/").status_code == 200


def test_a_page_refused_to_a_viewer_explains_itself_in_the_admin_s_style(member_client, business):
    client = member_client((business, "viewer"))
    response = client.get("/admin/calls/campaign/add/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Your role does not allow this" in body
    assert "<strong>viewer</strong> in Acme Plumbing" in body
    assert 'id="user-tools"' in body and "Outbound calls" in body  # the admin's own page


def test_a_campaign_is_found_by_a_number_it_called_as_people_type_it(operator, business):
    spring = Campaign.objects.create(business=business, name="Spring")
    autumn = Campaign.objects.create(business=business, name="Autumn")
    make_request(business, number="+14155550199", campaign=spring)
    make_request(business, number="+14155550188", campaign=autumn)
    for term in ["555-0199", "(415) 555-0199", "+1 415 555 0199"]:
        found = operator.get("/admin/calls/campaign/", {"q": term}).context["cl"].result_list
        assert list(found) == [spring], term


def test_the_browser_s_favicon_request_is_sent_to_the_icon_not_a_logged_404(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].startswith("/static/calls/favicon")
