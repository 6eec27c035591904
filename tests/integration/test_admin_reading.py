"""The admin as an operator reads it: a reason on every unsuccessful call, "Has an error" finds
them, a number is found however it is written, times with seconds and the zone named in the
operator's own zone, the call's actions as buttons, the task queue below the business apps."""

import datetime as dt

import pytest

from calls.models import CallLog, OperatorPreference
from calls.outcomes import outcome_reason
from tests.recipes import callback, make_call, make_request, sid

LIST = "/admin/calls/calllog/"


def listed(response):
    return list(response.context["cl"].result_list)


@pytest.fixture
def outcomes(business):
    """One call per final status (and a live one), none with a recorded reason; the failed one
    carries the carrier's SIP code."""
    calls = {}
    for k, status in enumerate(["completed", "busy", "no-answer", "failed", "canceled", "ringing"]):
        calls[status] = make_call(
            business, number=f"+1415555000{k}", status=status, call_sid=sid(k + 1)
        )
    CallLog.objects.filter(pk=calls["failed"].pk).update(sip_response_code=500)
    return calls


def test_has_an_error_lists_failed_busy_and_no_answer_calls(admin_client, outcomes, business):
    refused = make_call(business, number="+14155550099", status="failed", error_code="21211")
    response = admin_client.get(f"{LIST}?has_error=yes")
    assert set(listed(response)) == {
        outcomes["busy"],
        outcomes["no-answer"],
        outcomes["failed"],
        refused,
    }
    clean = set(listed(admin_client.get(f"{LIST}?has_error=no")))
    assert clean == {outcomes["completed"], outcomes["canceled"], outcomes["ringing"]}


def test_every_unsuccessful_call_shows_a_human_reason(admin_client, outcomes):
    body = admin_client.get(LIST).content.decode()
    assert "The line was busy." in body
    assert "Nobody answered before the ring timeout." in body
    assert "Ended before it was answered." in body
    # No message from Twilio, only the carrier's SIP code: the code's reason.
    assert "The carrier failed to connect the call (SIP 500)." in body
    for status in ("busy", "no-answer", "failed", "canceled"):
        call = CallLog.objects.get(pk=outcomes[status].pk)
        assert outcome_reason(call)
    assert outcome_reason(outcomes["completed"]) == ""


def test_a_failed_callback_with_sip_500_shows_its_reason_and_is_an_error(
    admin_client, business, twilio_post
):
    call = make_call(business, status="ringing", call_sid=sid(9))
    path = f"/twilio/calls/{call.public_id}/status"
    response = twilio_post(path, callback(sid(9), "failed", 3, SipResponseCode="500"))
    assert response.status_code == 204
    listed_calls = listed(admin_client.get(f"{LIST}?has_error=yes"))
    assert listed_calls == [call]
    body = admin_client.get(f"{LIST}?has_error=yes").content.decode()
    assert "The carrier failed to connect the call (SIP 500)." in body


def test_a_recorded_message_or_code_is_the_reason(business):
    said = make_call(business, status="failed", error_code="32009", error_message="Carrier said no")
    coded = make_call(business, number="+14155550111", status="failed", error_code="13227")
    assert outcome_reason(said) == "Carrier said no"
    assert "Twilio error 13227" in outcome_reason(coded)


@pytest.mark.parametrize(
    "term", ["(415) 555-0004", "415.555.0004", "+1 415 555 0004", "4155550004", "555-0004"]
)
def test_a_formatted_number_finds_its_calls_requests_and_leads(admin_client, business, term):
    from leads.models import Lead

    call = make_call(business, number="+14155550004", status="failed")
    other = make_call(business, number="+14155550005", status="failed")
    request = make_request(business, number="+14155550004")
    lead = Lead.objects.create(business=business, phone_number="+14155550004")
    found = listed(admin_client.get(LIST, {"q": term}))
    assert found == [call] and other not in found
    assert listed(admin_client.get("/admin/calls/callrequest/", {"q": term})) == [request]
    assert listed(admin_client.get("/admin/leads/lead/", {"q": term})) == [lead]


def test_a_search_that_is_not_a_number_searches_as_written(admin_client, business):
    call = make_call(business, call_sid=sid("b"))
    assert listed(admin_client.get(LIST, {"q": "CAbbbb"})) == [call]


def test_times_have_seconds_and_the_zone_in_the_operator_s_zone(admin_client, admin_user, business):
    call = make_call(business, status="completed")
    at = dt.datetime(2026, 1, 15, 19, 54, 7, tzinfo=dt.UTC)
    CallLog.objects.filter(pk=call.pk).update(created_at=at)
    assert "2026-01-15<br>19:54:07 UTC" in admin_client.get(LIST).content.decode()
    response = admin_client.post("/admin/preferences/", {"time_zone": "America/New_York"})
    assert response.status_code == 302
    assert OperatorPreference.objects.get(user=admin_user).time_zone == "America/New_York"
    body = admin_client.get(f"{LIST}{call.pk}/change/").content.decode()
    assert "2026-01-15 14:54:07 EST" in body
    assert "Time zone: America/New_York" in body


def test_the_zone_is_utc_until_chosen_and_must_be_a_real_zone(admin_client, admin_user):
    assert "Time zone: UTC" in admin_client.get("/admin/").content.decode()
    response = admin_client.post("/admin/preferences/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 200 and response.context["form"].errors
    assert not OperatorPreference.objects.filter(user=admin_user).exists()


def test_a_webhook_request_reads_no_preference(db, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        client.get("/metrics")  # 404 without METRICS_TOKEN; no session, no lookup


def test_the_call_page_has_its_actions_as_buttons_for_an_operator(member_client, business):
    live = make_call(business, status="ringing", call_sid=sid(7), request=make_request(business))
    ended = make_call(business, number="+14155550177", status="completed")
    operator = member_client((business, "operator"))
    body = operator.get(f"{LIST}{live.pk}/change/").content.decode()
    for label in ("Hang up", "Reconcile with Twilio", "Retry now"):
        assert f">{label}</button>" in body
    ended_body = operator.get(f"{LIST}{ended.pk}/change/").content.decode()
    assert ">Hang up</button>" not in ended_body
    viewer = member_client((business, "viewer"), username="vera")
    assert "call-actions" not in viewer.get(f"{LIST}{live.pk}/change/").content.decode()


def test_a_call_button_runs_the_list_action_on_that_call(
    member_client, business, queue, django_capture_on_commit_callbacks
):
    live = make_call(business, status="ringing", call_sid=sid(8))
    operator = member_client((business, "operator"))
    form = {"action": "hang_up", "_selected_action": live.pk}
    confirmation = operator.post(LIST, form)
    assert "Hang up 1 call" in confirmation.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(LIST, {**form, "post": "yes"}, follow=True)
    assert "1 call queued to hang up." in response.content.decode()
    live.refresh_from_db()
    assert live.hang_up_requested_by.username == "alice"
    assert queue() == [("calls.tasks.hang_up_call", (live.pk,))]


def test_the_task_queue_is_a_section_below_the_business_apps(admin_client):
    apps = admin_client.get("/admin/").context["app_list"]
    names = [app["name"] for app in apps]
    assert names[:6] == ["Calls", "Compliance", "Leads", "HTTP API", "Webhooks", "Task queue"]


def test_members_do_not_see_the_task_queue(member_client, business):
    apps = member_client((business, "manager")).get("/admin/").context["app_list"]
    # A manager sees its business's consent records, API keys, webhook messages and people (the
    # accounts, Users only: groups are superusers'); no one but superusers the task queue.
    names = [app["name"] for app in apps]
    assert names == [
        "Calls",
        "Compliance",
        "Leads",
        "HTTP API",
        "Webhooks",
        "Authentication and Authorization",
    ]
    assert [model["object_name"] for model in apps[-1]["models"]] == ["User"]


def test_the_list_of_calls_shows_what_an_operator_reads(admin_client, outcomes):
    body = admin_client.get(LIST).content.decode()
    columns = ["when", "business_name", "from_number", "to_number", "campaign", "status"]
    for column in [*columns, "duration", "outcome"]:
        assert f"column-{column}" in body
    assert "column-ended" not in body  # on the call's page and in the export


def test_a_call_page_reads_as_a_summary_then_a_timeline(admin_client, business):
    from django.utils import timezone

    from calls.models import CallEvent, Campaign, DoNotCall

    campaign = Campaign.objects.create(business=business, name="Spring")
    request = make_request(business, number="+14155550007", campaign=campaign, status="done")
    start = timezone.now() - dt.timedelta(minutes=3)
    call = make_call(
        business,
        number="+14155550007",
        request=request,
        call_sid=sid(7),
        status="completed",
        dial_started_at=start + dt.timedelta(seconds=1),
        answered_at=start + dt.timedelta(seconds=9),
        ended_at=start + dt.timedelta(seconds=40),
        duration_seconds=31,
        answered_by="human",
        digits="9",
    )
    for seconds, status, applied in [
        (5, "ringing", True),
        (40, "completed", True),
        (41, "ringing", False),
    ]:
        event = CallEvent.objects.create(
            call=call, status=status, applied=applied, params={"Raw": "x"}
        )
        CallEvent.objects.filter(pk=event.pk).update(
            received_at=start + dt.timedelta(seconds=seconds)
        )
    listed = DoNotCall.objects.create(
        business=business, phone_number=call.to_number, source_call=call,
        reason=f"opted out by keypress during call {call.call_sid}",
    )  # fmt: skip
    DoNotCall.objects.filter(pk=listed.pk).update(created_at=start + dt.timedelta(seconds=20))
    CallLog.objects.filter(pk=call.pk).update(created_at=start)

    html = admin_client.get(f"/admin/calls/calllog/{call.pk}/change/").content.decode()

    summary = html.split("Timeline")[0]
    for text in ["+14155550007", "Spring", "0:31", "Human", "9"]:
        assert text in summary
    timeline = html.split('class="call-timeline"')[1].split("</table>")[0]
    steps = [
        "Claimed for dialing",
        "Create request sent to Twilio",
        "Twilio&#x27;s callback: ringing",
        "Answered",
        "Machine detection&#x27;s verdict",
        "Keys pressed: 9",
        "Twilio&#x27;s callback: completed",
        "Ended: completed",
        "Twilio&#x27;s callback: ringing",
    ]
    cursor = 0
    for step in steps:
        assert step in timeline[cursor:], (step, timeline)
        cursor = timeline.index(step, cursor)
    assert "not applied: stale, repeated or out of order" in timeline
    assert "opted out: on the do-not-call list" in timeline
    # The internals are folded: SIDs and raw parameters sit in collapsed sections.
    internals = html.split("Internals")[1]
    assert call.call_sid in internals and "<details" in html.split("Internals")[0][-200:]
