"""The dashboard: each business a member may see (and none other), live calls against the cap,
the queue, the last hour, the pause with its reason and a resume for those allowed; the banner
on every admin page; its cost does not grow with the tables."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls.audit import OperatorAction
from calls.counts import CallCounts
from calls.models import Business, CallLog, DialingControl
from tests.recipes import make_call, make_request, sid

PAUSE = "Twilio refused the call (refused business): 21210 'From' number not verified"


def live_calls(business, n, start=0):
    return [
        make_call(
            business,
            number=f"+1415555{start + k:04d}",
            status="in-progress",
            call_sid=sid(business.pk * 100_000 + start + k),
        )
        for k in range(n)
    ]


def ended_calls(business, statuses, *, ago=timedelta(minutes=5), start=5000, **fields):
    """Placed calls dialed a minute before `ago`, ended `ago`."""
    at = timezone.now() - ago
    for k, status in enumerate(statuses):
        call = make_call(
            business,
            number=f"+1415555{start + k:04d}",
            status=status,
            call_sid=sid(business.pk * 100_000 + start + k),
            **fields,
        )
        CallLog.objects.filter(pk=call.pk).update(created_at=at - timedelta(minutes=1), ended_at=at)


@pytest.fixture
def paused(rival):
    Business.objects.filter(pk=rival.pk).update(paused_reason=PAUSE)
    rival.refresh_from_db()
    return rival


def row_of(response, business):
    return next(s for s in response.context["states"] if s.business == business)


def test_it_shows_live_calls_against_the_cap_the_queue_and_the_last_hour(admin_client, business):
    live_calls(business, 2)
    for k in range(5):
        make_request(business, number=f"+1415555{100 + k:04d}")
    make_request(business, number="+14155550199", next_attempt_at=timezone.now() + timedelta(1))
    ended_calls(business, ["completed", "completed", "busy", "no-answer", "failed"])
    ended_calls(business, ["completed"], ago=timedelta(hours=2), start=6000)
    # Twilio refused it: not placed, so neither an attempt nor an ended call.
    make_call(business, number="+14155557000", status="failed", error_code="21210")
    response = admin_client.get("/admin/dashboard/")
    assert response.status_code == 200
    state = row_of(response, business)
    assert (state.live, state.cap, state.queued, state.due) == (2, 3, 6, 5)
    assert state.outcomes == {"completed": 2, "busy": 1, "no-answer": 1, "failed": 1}
    assert state.counts == CallCounts(
        attempts=7, placed=7, reached_person=2, reached_machine=0, ended=5, answered=2
    )
    assert state.answer_rate == pytest.approx(0.4)
    body = response.content.decode()
    assert "2 / 3" in body and "40 %" in body and "Calls dialed in the last hour" in body
    assert "<svg" in body and "Calls per minute by outcome" in body


def test_the_oldest_due_request_says_how_long_it_has_waited(admin_client, business):
    make_request(business, next_attempt_at=timezone.now() - timedelta(minutes=3, seconds=5))
    response = admin_client.get("/admin/dashboard/")
    assert row_of(response, business).wait_text.startswith("3 min")


def test_a_member_sees_its_businesses_only_with_a_paused_ones_reason(
    member_client, business, paused
):
    third = Business.objects.create(name="Third Tiles", phone_number="+14155550300")
    client = member_client((business, "viewer"), (paused, "viewer"))
    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    assert [s.business for s in response.context["states"]] == [paused, business]
    body = response.content.decode()
    assert PAUSE.replace("'", "&#x27;") in body
    assert third.name not in body
    # A viewer may not resume: no button.
    assert not row_of(response, paused).may_resume
    assert "dashboard/resume/" not in body


def test_a_member_of_one_business_never_sees_the_other(member_client, business, paused):
    response = member_client((business, "operator")).get("/admin/dashboard/?part=live")
    assert [s.business for s in response.context["states"]] == [business]
    assert paused.name not in response.content.decode()


def test_an_operator_resumes_a_paused_business_through_the_recorded_action(
    member_client, paused, queue, django_capture_on_commit_callbacks
):
    client = member_client((paused, "operator"))
    assert row_of(client.get("/admin/dashboard/"), paused).may_resume
    url = f"/admin/dashboard/resume/{paused.pk}/"
    form = {"action": "resume", "_selected_action": paused.pk}
    # First the action's own confirmation page; nothing changes yet.
    confirmation = client.post(url, form)
    assert "Resume dialing for 1 business" in confirmation.content.decode()
    paused.refresh_from_db()
    assert paused.paused_reason == PAUSE
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**form, "post": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == "/admin/dashboard/"
    paused.refresh_from_db()
    assert paused.paused_reason == ""
    assert queue() == [("calls.tasks.dispatch", (paused.pk,))]
    record = OperatorAction.objects.get()
    assert (record.action, record.business_id, record.summary) == (
        "resume",
        paused.pk,
        "1 business resumed.",
    )


def test_a_viewer_cannot_resume_even_by_a_crafted_post(member_client, business, paused):
    client = member_client((business, "operator"), (paused, "viewer"))
    form = {"action": "resume", "_selected_action": paused.pk, "post": "yes"}
    client.post(f"/admin/dashboard/resume/{paused.pk}/", form)
    paused.refresh_from_db()
    assert paused.paused_reason == PAUSE
    assert not OperatorAction.objects.exists()


def test_it_is_for_staff_only(client, business):
    response = client.get("/admin/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_index_links_to_it(admin_client):
    assert 'href="/admin/dashboard/"' in admin_client.get("/admin/").content.decode()


def test_every_admin_page_has_a_banner_while_a_business_of_the_user_is_paused(
    member_client, business, paused, worker_alive
):
    theirs = member_client((business, "viewer"), username="bob")
    assert "dialing-banner" not in theirs.get("/admin/calls/calllog/").content.decode()
    ours = member_client((paused, "viewer"), username="carol")
    for url in ("/admin/", "/admin/calls/calllog/", "/admin/leads/lead/", "/admin/dashboard/"):
        body = ours.get(url).content.decode()
        assert "dialing-banner" in body and "Rival Roofing is paused" in body


def test_every_admin_page_has_a_banner_while_all_dialing_is_paused(member_client, business):
    DialingControl.objects.create(pk=1, paused=True, reason="Carrier outage")
    client = member_client((business, "viewer"))
    body = client.get("/admin/calls/callrequest/").content.decode()
    assert "All dialing is paused" in body and "Carrier outage" in body
    live = client.get("/admin/dashboard/?part=live").content.decode()
    assert "All dialing is paused" in live


def test_the_fragments_render_without_the_page(admin_client, business):
    live = admin_client.get("/admin/dashboard/?part=live")
    history = admin_client.get("/admin/dashboard/?part=history")
    assert live.status_code == history.status_code == 200
    assert "<html" not in live.content.decode() and "business-states" in live.content.decode()
    assert "<svg" in history.content.decode()


def test_its_queries_do_not_grow_with_the_tables_or_the_businesses(admin_client, business):
    admin_client.get("/admin/dashboard/")  # the session learns the operator's time zone

    def queries(n, start):
        other = Business.objects.create(name=f"B{start}", phone_number=f"+1415555{start:04d}")
        live_calls(other, 1, start=start + 1)
        for k in range(n):
            make_request(business, number=f"+1415556{start + k:04d}")
            make_call(business, number=f"+1415557{start + k:04d}", call_sid=sid(start + k))
        ended_calls(business, ["completed", "busy"] * n, start=start + 500)
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/admin/dashboard/").status_code == 200
        return len(captured)

    few = queries(2, 1000)
    assert queries(40, 2000) == few
