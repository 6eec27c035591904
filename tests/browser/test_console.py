"""The operator's console in a real Chromium at 1280 px, over a live server: log in, read the
dashboard with a paused business and resume it, create a campaign from a pasted list, pause and
resume it, hang up a live call, export calls as CSV."""

import csv
import io

import pytest
from playwright.sync_api import expect

from calls import tasks
from calls.audit import OperatorAction
from calls.models import Business, CallLog, Campaign
from tests.conftest import queued_tasks
from tests.recipes import make_call, make_request, sid

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

PAUSE = "Twilio refused the call (refused business): 21210 'From' number not verified"


def test_the_dashboard_shows_a_paused_business_and_an_operator_resumes_it(
    live_server, page, login, acme, rival, artifacts, worker_alive
):
    Business.objects.filter(pk=rival.pk).update(paused_reason=PAUSE)
    make_call(acme, number="+14155550001", status="in-progress", call_sid=sid(1))
    make_request(acme, number="+14155550002")
    login((acme, "operator"), (rival, "operator"))
    page.click("text=Dashboard")
    expect(page.locator("h1")).to_have_text("Dashboard")
    banner = page.locator(".dialing-banner")
    expect(banner).to_contain_text("Rival Roofing is paused")
    rival_row = page.locator(f"tbody[data-business='{rival.pk}']")
    expect(rival_row.locator(".pause-reason")).to_have_text(PAUSE)
    acme_row = page.locator(f"tbody[data-business='{acme.pk}']")
    expect(acme_row.locator(".live")).to_have_text("1 / 3")
    expect(acme_row.locator(".queued")).to_have_text("1")
    expect(page.locator("svg.chart")).to_have_count(2)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    # It refreshes itself: a second live call shows up without a reload.
    make_call(acme, number="+14155550003", status="ringing", call_sid=sid(3))
    expect(acme_row.locator(".live")).to_have_text("2 / 3", timeout=10_000)
    rival_row.locator("button", has_text="Resume").click()
    expect(page.locator(".action-consequence")).to_contain_text("Resume dialing for 1 business")
    page.click("input[type=submit][value^='Yes']")
    expect(page.locator(".messagelist")).to_contain_text("1 business resumed.")
    expect(page.locator(f"tbody[data-business='{rival.pk}'] .state")).to_have_text("Running")
    expect(page.locator(".dialing-banner")).to_have_count(0)
    rival.refresh_from_db()
    assert rival.paused_reason == ""
    assert OperatorAction.objects.get().summary == "1 business resumed."


def test_a_manager_creates_a_campaign_from_a_pasted_list_then_pauses_and_resumes_it(
    live_server, page, login, acme
):
    login((acme, "manager"))
    page.goto(f"{live_server.url}/admin/calls/campaign/add/")
    page.click("#id_business + .select2")
    page.fill(".select2-search__field", "Acme")
    page.click(".select2-results__option >> text=Acme Plumbing")
    page.fill("#id_name", "Spring")
    page.fill("#id_numbers", "(415) 555-0101, Ann Lee\n+1 415 555 0102\nnot a number\n415.555.0103")
    page.click("input[name=_save]")
    expect(page.locator(".numbers-summary")).to_contain_text("3 queued")
    refused = page.locator(".refused-rows tbody tr")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("'not a number' is not a phone number")
    campaign = Campaign.objects.get(name="Spring")
    assert campaign.requests.count() == 3
    page.click("text=Go to the campaign")
    expect(page.locator(".campaign-progress")).to_contain_text("0/3 settled")
    expect(page.locator(".campaign-requests tbody tr")).to_have_count(3)
    page.click(".campaign-actions button:has-text('Pause')")
    expect(page.locator(".messagelist")).to_contain_text("1 campaign set to paused.")
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    page.goto(f"{live_server.url}/admin/calls/campaign/{campaign.pk}/change/")
    page.click(".campaign-actions button:has-text('Resume')")
    page.click("input[type=submit][value^='Yes']")
    expect(page.locator(".messagelist")).to_contain_text("1 campaign set to running.")
    campaign.refresh_from_db()
    assert campaign.status == "running"


def test_an_operator_hangs_up_a_live_call_from_its_page(
    live_server, page, login, acme, fake_twilio
):
    call = make_call(acme, number="+14155550004", status="in-progress", call_sid=sid(4))
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    login((acme, "operator"))
    page.goto(f"{live_server.url}/admin/calls/calllog/")
    # At 1280 px the list needs no sideways scrolling and shows what happened.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    for column in ("to_number", "status", "duration", "outcome"):
        expect(page.locator(f"#result_list th.column-{column}")).to_be_visible()
    page.click(f"#result_list a[href$='/calllog/{call.pk}/change/']")
    page.click(".call-actions button:has-text('Hang up')")
    expect(page.locator(".action-consequence")).to_contain_text("Hang up 1 call")
    page.click("input[type=submit][value^='Yes']")
    expect(page.locator(".messagelist")).to_contain_text("1 call queued to hang up.")
    call.refresh_from_db()
    assert call.hang_up_requested_by.username == "olga"
    assert queued_tasks() == [("calls.tasks.hang_up_call", (call.pk,))]
    tasks.hang_up_call(call.pk)  # what the worker does with it
    assert fake_twilio.hung_up == [call.call_sid]


def test_an_operator_exports_the_calls_with_an_error_as_csv(live_server, page, login, acme, rival):
    make_call(acme, number="+14155550005", status="busy", call_sid=sid(5))
    make_call(acme, number="+14155550006", status="completed", call_sid=sid(6))
    make_call(rival, number="+14155550007", status="busy", call_sid=sid(7))
    login((acme, "viewer"))
    page.goto(f"{live_server.url}/admin/calls/calllog/")
    page.click("text=Has an error")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert [(r["to"], r["status"], r["reason"]) for r in rows] == [
        ("+14155550005", "busy", "The line was busy.")
    ]
    assert OperatorAction.objects.get().action == "export_csv"
    assert CallLog.objects.count() == 3
