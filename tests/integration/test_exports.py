"""CSV exports of calls, requests and leads: the list as filtered and as the member may see it,
within EXPORT_MAX_ROWS, recorded in the action log."""

import csv
import io

import pytest
from django.contrib.messages import get_messages

from calls.audit import OperatorAction
from calls.models import CallLog
from leads.models import Lead
from tests.recipes import make_call, make_request


def rows_of(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def calls_of_both(business, rival):
    ours = [
        make_call(business, number="+14155550001", status="busy"),
        make_call(business, number="+14155550002", status="completed", duration_seconds=42),
    ]
    make_call(rival, number="+14155550003", status="busy")
    return ours


def test_a_member_exports_its_business_s_calls_only(member_client, business, calls_of_both):
    client = member_client((business, "viewer"))
    rows = rows_of(client.get("/admin/calls/calllog/export/"))
    assert sorted(r["to"] for r in rows) == ["+14155550001", "+14155550002"]
    assert {r["business"] for r in rows} == {"Acme Plumbing"}
    busy = next(r for r in rows if r["status"] == "busy")
    assert busy["reason"] == "The line was busy."


def test_the_export_keeps_the_list_s_filters_and_search(admin_client, calls_of_both):
    rows = rows_of(admin_client.get("/admin/calls/calllog/export/?status__exact=busy"))
    assert sorted(r["to"] for r in rows) == ["+14155550001", "+14155550003"]
    rows = rows_of(admin_client.get("/admin/calls/calllog/export/", {"q": "(415) 555-0002"}))
    assert [r["to"] for r in rows] == ["+14155550002"]


def test_the_list_links_to_its_export_with_its_filters(admin_client, calls_of_both):
    body = admin_client.get("/admin/calls/calllog/?status__exact=busy").content.decode()
    assert 'href="/admin/calls/calllog/export/?status__exact=busy"' in body


def test_an_export_is_recorded_once_per_business(admin_client, business, rival, calls_of_both):
    rows_of(admin_client.get("/admin/calls/calllog/export/"))
    records = {a.business_id: a for a in OperatorAction.objects.all()}
    assert set(records) == {business.pk, rival.pk}
    ours = records[business.pk]
    assert (ours.action, ours.target, ours.rows) == ("export_csv", "calls.calllog", 2)
    assert ours.summary == "2 calls exported as CSV."
    assert set(ours.targets.values_list("object_id", flat=True)) == {c.pk for c in calls_of_both}


def test_an_export_past_the_limit_is_refused_with_the_reason(admin_client, settings, calls_of_both):
    settings.EXPORT_MAX_ROWS = 2
    response = admin_client.get("/admin/calls/calllog/export/?direction__exact=outbound")
    assert response.status_code == 302
    assert response["Location"] == "/admin/calls/calllog/?direction__exact=outbound"
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Refused: 3 calls match, and an export holds at most 2")
    assert not OperatorAction.objects.exists()


def test_requests_and_leads_export_too(member_client, business, rival):
    held = "outside the calling window until 08:00 America/Los_Angeles"
    make_request(business, number="+14155550011", held_reason=held, window_holds=2)
    make_request(rival, number="+14155550012")
    Lead.objects.create(business=business, phone_number="+14155550021", name="Ann")
    Lead.objects.create(business=rival, phone_number="+14155550022", name="Rob")
    client = member_client((business, "viewer"))
    requests = rows_of(client.get("/admin/calls/callrequest/export/"))
    assert [(r["to"], r["waiting_for"], r["window_holds"]) for r in requests] == [
        ("+14155550011", held, "2")
    ]
    leads = rows_of(client.get("/admin/leads/lead/export/"))
    assert [(r["phone_number"], r["name"]) for r in leads] == [("+14155550021", "Ann")]


def test_a_cell_a_spreadsheet_would_run_is_quoted(admin_client, business):
    Lead.objects.create(business=business, phone_number="+14155550031", name="=HYPERLINK(1)")
    [row] = rows_of(admin_client.get("/admin/leads/lead/export/"))
    assert row["name"] == "'=HYPERLINK(1)"
    assert row["phone_number"] == "+14155550031"


def test_a_stranger_cannot_export(client, calls_of_both):
    response = client.get("/admin/calls/calllog/export/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert CallLog.objects.count() == 3 and not OperatorAction.objects.exists()


def test_the_calls_export_names_the_campaign_and_who_answered(admin_client, business):
    from calls.models import Campaign

    campaign = Campaign.objects.create(business=business, name="Spring")
    request = make_request(business, number="+14155550009", campaign=campaign)
    make_call(
        business, number="+14155550009", request=request, status="completed",
        call_sid="CA" + "9" * 32, answered_by="machine_end_beep",
    )  # fmt: skip
    make_call(business, number="+14155550008", status="failed", error_code="21210")
    rows = {r["to"]: r for r in rows_of(admin_client.get("/admin/calls/calllog/export/"))}
    machine, refused = rows["+14155550009"], rows["+14155550008"]
    assert (machine["campaign"], machine["answered_by"]) == ("Spring", "machine_end_beep")
    assert (refused["campaign"], refused["answered_by"]) == ("", "")
    # calls.counts' figures per call: Twilio's refusal is neither placed nor ended.
    flags = ["attempts", "placed", "reached_person", "reached_machine", "ended"]
    assert [machine[f] for f in flags] == ["yes", "yes", "", "yes", "yes"]
    assert [refused[f] for f in flags] == ["", "", "", "", ""]
