"""The operator's console in a real Chromium at 1280 x 800, over a live server: log in, read the
dashboard with a paused business and resume it, create a campaign from a pasted list, pause and
resume it, hang up a live call, export calls as CSV; a silent worker announced on the dashboard
and every admin page until one checks in again; the calls' reason and the requests' "waiting
for" columns wide enough to read; a campaign's page counting its calls as they settle without a
reload, its Pause keeping the operator on it. Screenshots go to artifacts/."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from calls import tasks
from calls.audit import OperatorAction
from calls.models import Business, CallLog, CallRequest, Campaign
from tests.browser.conftest import PASSWORD
from tests.conftest import queued_tasks
from tests.recipes import make_call, make_cleanup_run, make_heartbeat, make_request, sid

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
    page.select_option("#id_purpose", "informational")
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


SILENT = "No worker has checked in for 2 min: calls are not being placed."
LONG_REASON = (
    "Twilio refused the call (refused number, 21215): Account not authorized to call "
    "+4420 7946 0958. Perhaps you need to enable some international permissions: "
    "twilio.com/console/voice/calls/geo-permissions"
)
WINDOW_HOLD = "outside the calling window until 08:00 America/Denver (Mon 2026-11-30)"


def log_in_as_superuser(live_server, page):
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def admin_pages(page, live_server) -> list[str]:
    """Every page the index links to (each model's list and add page), the index itself, the
    dashboard and the time zone page."""
    page.goto(f"{live_server.url}/admin/")
    links = page.eval_on_selector_all(
        "#content-main a[href^='/admin/']", "links => links.map(a => a.getAttribute('href'))"
    )
    return sorted({"/admin/", "/admin/dashboard/", "/admin/preferences/", *links})


def test_every_admin_page_warns_while_no_worker_checks_in_and_stops_once_one_does(
    live_server, page, acme, artifacts
):
    make_cleanup_run()
    make_heartbeat(ago=timedelta(minutes=2, seconds=5))
    log_in_as_superuser(live_server, page)
    pages = admin_pages(page, live_server)
    assert len(pages) > 20  # lists and add pages of every app, not a handful

    page.goto(f"{live_server.url}/admin/dashboard/")
    expect(page.locator(".dialing-state .state-stale")).to_have_text(SILENT)
    expect(page.locator(".dialing-state .state-running")).to_have_count(0)
    expect(page.locator(".liveness-workers")).to_contain_text("0 checked in within the last")
    page.screenshot(path=str(artifacts / "dashboard-worker-silent.png"), full_page=True)
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator(".dialing-banner .health-problem"), path).to_have_text(
            f"{SILENT} Dashboard"
        )
    page.goto(f"{live_server.url}/admin/calls/calllog/")
    page.screenshot(path=str(artifacts / "banner-worker-silent.png"))

    # A worker checks in: the dashboard says so by itself, and no page warns any more.
    page.goto(f"{live_server.url}/admin/dashboard/")
    page.evaluate("window.notReloaded = true")
    make_heartbeat()
    expect(page.locator(".dialing-state .state-running")).to_have_text(
        "All dialing is running.", timeout=10_000
    )
    expect(page.locator(".dialing-state .state-stale")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(artifacts / "dashboard-worker-back.png"), full_page=True)
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator(".dialing-banner"), path).to_have_count(0)


def column_width(page, css: str) -> float:
    """The rendered width of the first element `css` finds, once it is wholly on screen: inside
    the viewport and inside the list's own scrolling box (a column pushed past its right edge
    would need scrolling sideways to read)."""
    return page.locator(css).first.evaluate(
        """cell => {
            const box = cell.getBoundingClientRect();
            const list = cell.closest('.results').getBoundingClientRect();
            const inside = box.left >= list.left && box.right <= list.right + 0.5
                && box.right <= window.innerWidth;
            return inside ? box.width : -box.right;
        }"""
    )


def test_the_reason_and_waiting_for_columns_are_wide_enough_to_read_at_1280(
    live_server, page, login, acme, rival, artifacts, worker_alive
):
    campaign = Campaign.objects.create(business=acme, name="Spring reminders 2026")
    for n in range(12):
        request = make_request(acme, number=f"+1415555{n:04d}", campaign=campaign)
        make_call(
            acme,
            number=request.to_number,
            request=request,
            status=["failed", "busy", "completed", "no-answer"][n % 4],
            call_sid=sid(n + 1),
            error_message=LONG_REASON if n % 4 == 0 else "",
            duration_seconds=n * 7,
        )
        CallRequest.objects.filter(pk=request.pk).update(
            status="queued" if n % 2 else "failed",
            held_reason=WINDOW_HOLD if n % 2 else "",
            last_error="" if n % 2 else LONG_REASON,
            next_attempt_at=timezone.now() + timedelta(hours=9),
        )
    login((acme, "operator"), (rival, "operator"))

    page.goto(f"{live_server.url}/admin/calls/calllog/")
    for column in ("when", "business_name", "from_number", "to_number", "campaign"):
        expect(page.locator(f"#result_list th.column-{column}")).to_be_visible()
    for column in ("status", "duration", "outcome"):
        expect(page.locator(f"#result_list th.column-{column}")).to_be_visible()
    assert column_width(page, "#result_list th.column-outcome") >= 200
    assert column_width(page, "#result_list td.field-outcome") >= 200
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    reasons = page.locator("#result_list td.field-outcome")
    expect(reasons.filter(has_text="geo-permissions")).to_have_count(3)  # whole, wrapped
    page.screenshot(path=str(artifacts / "calls-list.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/calls/callrequest/")
    for column in ("to_number", "campaign", "status", "attempts_made"):
        expect(page.locator(f"#result_list th.column-{column}")).to_be_visible()
    assert column_width(page, "#result_list th.column-waiting_for_or_error") >= 200
    assert column_width(page, "#result_list td.field-waiting_for_or_error") >= 200
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    cells = page.locator("#result_list td.field-waiting_for_or_error")
    expect(cells.filter(has_text=WINDOW_HOLD)).to_have_count(6)
    expect(cells.filter(has_text="geo-permissions")).to_have_count(6)
    page.screenshot(path=str(artifacts / "requests-list.png"), full_page=True)


def test_the_campaign_page_counts_calls_as_they_settle_and_stays_put_on_pause(
    live_server, page, login, acme, artifacts, worker_alive
):
    campaign = Campaign.objects.create(business=acme, name="Spring")
    calls = []
    for n in range(3):
        request = make_request(acme, number=f"+1415555{n:04d}", campaign=campaign, status="active")
        calls.append(
            make_call(
                acme,
                number=request.to_number,
                request=request,
                status="ringing",
                call_sid=sid(n + 1),
            )  # fmt: skip
        )
    make_request(acme, number="+14155550099", campaign=campaign)  # still queued
    login((acme, "operator"))
    url = f"{live_server.url}/admin/calls/campaign/{campaign.pk}/change/"
    page.goto(url)
    overall = page.locator(".counts-overall")
    expect(overall.locator(".count-placed")).to_have_text("3")
    expect(overall.locator(".count-ended")).to_have_text("0")
    expect(page.locator(".now-live")).to_have_text("3")
    expect(page.locator(".campaign-progress")).to_contain_text("0/4 settled")
    page.evaluate("window.notReloaded = true")

    # Twilio's callbacks settle two calls: the page follows without a reload.
    now = timezone.now()
    CallLog.objects.filter(pk=calls[0].pk).update(
        status="completed", answered_at=now, ended_at=now, duration_seconds=20
    )
    CallLog.objects.filter(pk=calls[1].pk).update(status="busy", ended_at=now)
    CallRequest.objects.filter(pk__in=[calls[0].request_id, calls[1].request_id]).update(
        status="done"
    )
    expect(overall.locator(".count-ended")).to_have_text("2", timeout=10_000)
    expect(overall.locator(".count-reached_person")).to_have_text("1")
    expect(page.locator(".now-live")).to_have_text("1")
    expect(page.locator(".campaign-progress")).to_contain_text("2/4 settled")
    expect(page.locator(".kpi-answer-rate")).to_contain_text("50 % (1 of 2 ended)")
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(artifacts / "campaign-live.png"), full_page=True)

    page.click(".campaign-actions button:has-text('Pause')")
    expect(page.locator(".messagelist")).to_contain_text("1 campaign set to paused.")
    assert page.url == url
    expect(page.locator(".campaign-status")).to_have_text("Paused")
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    page.screenshot(path=str(artifacts / "campaign-paused.png"), full_page=True)

    page.click(".campaign-actions button:has-text('Resume')")
    page.click("input[type=submit][value^='Yes']")
    expect(page.locator(".messagelist")).to_contain_text("1 campaign set to running.")
    assert page.url == url
    expect(page.locator(".campaign-status")).to_have_text("Running")
    # The settings are below the results, folded.
    settings = page.locator("details:has(h2:text('Settings'))")
    expect(settings).to_have_count(1)
    assert settings.evaluate("d => d.open") is False
    assert re.search(r"campaign-live.*Settings", page.content(), re.S)
