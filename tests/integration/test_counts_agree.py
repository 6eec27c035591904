"""Every count of a campaign's calls (attempts, placed, reached a person, reached a machine, ended)
reads the same on the campaign's page, the dashboard, the calls' CSV export, /metrics and the API,
for a campaign generated from every kind of call there is; and each equals what the kinds say it
should be (a call Twilio refused is neither an attempt, nor placed, nor ended)."""

import csv
import io
import re
from datetime import timedelta

from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from calls.models import CallLog, CallRequest, Campaign, EndedCallTally
from tests.api_client import api_for
from tests.recipes import make_call, make_request, sid

FIGURES = ["attempts", "placed", "reached_person", "reached_machine", "ended"]
METRICS_TOKEN = "agreeing-metrics-token"

# Each kind of call: its fields, and the figures it counts in (what calls/counts.py says, written
# out by hand so the test does not read its definitions from the code under test).
KINDS = {
    "refused": (
        {"status": "failed", "error_code": "21210", "ended_by": "dispatch", "ended": True},
        set(),
    ),
    "never sent": ({"status": "failed", "ended_by": "cleanup", "ended": True}, set()),
    "in flight": ({"status": "pending", "dial_started": True}, {"attempts"}),
    "claimed": ({"status": "pending"}, {"attempts"}),
    "ringing": ({"status": "ringing", "placed": True}, {"attempts", "placed"}),
    "talking": (
        {"status": "in-progress", "placed": True, "answered": True},
        {"attempts", "placed", "reached_person"},
    ),
    "person": (
        {"status": "completed", "placed": True, "answered": True, "ended": True},
        {"attempts", "placed", "reached_person", "ended"},
    ),
    "person, no answer time": (
        {"status": "completed", "placed": True, "ended": True},
        {"attempts", "placed", "reached_person", "ended"},
    ),
    "machine": (
        {
            "status": "completed",
            "placed": True,
            "answered": True,
            "answered_by": "machine_end_beep",
            "ended": True,
        },
        {"attempts", "placed", "reached_machine", "ended"},
    ),
    "human by detection": (
        {"status": "completed", "placed": True, "answered_by": "human", "ended": True},
        {"attempts", "placed", "reached_person", "ended"},
    ),
    "busy": ({"status": "busy", "placed": True, "ended": True}, {"attempts", "placed", "ended"}),
    "no answer": (
        {"status": "no-answer", "placed": True, "ended": True},
        {"attempts", "placed", "ended"},
    ),
    "failed after placing": (
        {"status": "failed", "placed": True, "ended": True, "error_code": "32009"},
        {"attempts", "placed", "ended"},
    ),
    "canceled while ringing": (
        {"status": "canceled", "placed": True, "ended": True},
        {"attempts", "placed", "ended"},
    ),
}


def make_campaign_calls(business, kinds) -> Campaign:
    campaign = Campaign.objects.create(business=business, name="Generated")
    # Ended five minutes ago, so /metrics' tally (which waits a minute) has counted them.
    ago = timezone.now() - timedelta(minutes=5)
    for n, kind in enumerate(kinds):
        spec, _ = KINDS[kind]
        request = make_request(
            business, number=f"+1415555{n:04d}", campaign=campaign, status="active"
        )
        call = make_call(
            business,
            number=request.to_number,
            request=request,
            status=spec["status"],
            call_sid=sid(n + 1) if spec.get("placed") else None,
            error_code=spec.get("error_code", ""),
            ended_by=spec.get("ended_by", ""),
            answered_by=spec.get("answered_by", ""),
            answered_at=ago if spec.get("answered") else None,
            dial_started_at=ago if spec.get("dial_started") or spec.get("placed") else None,
        )
        if spec.get("ended"):
            CallLog.objects.filter(pk=call.pk).update(ended_at=ago)
            CallRequest.objects.filter(pk=request.pk).update(status="done")
    return campaign


def cells(html: str, row_marker: str) -> dict[str, int]:
    """The figures of the table row that follows `row_marker`, by their `count-<name>` class."""
    row = html.split(row_marker, 1)[1].split("</tr>", 1)[0]
    found = re.findall(r'class="count(?: count)?-(\w+)">(?:<span class="n">)?(\d+)', row)
    return {name: int(n) for name, n in found}


def on_the_campaign_page(client, campaign) -> dict:
    html = client.get(f"/admin/calls/campaign/{campaign.pk}/change/").content.decode()
    return cells(html, 'class="counts-overall"')


def on_the_dashboard(client, business) -> dict:
    html = client.get("/admin/dashboard/?part=live").content.decode()
    return cells(html, f'data-business="{business.pk}"')


def in_the_export(client, campaign) -> dict:
    response = client.get(f"/admin/calls/calllog/export/?campaign={campaign.pk}")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    return {name: sum(row[name] == "yes" for row in rows) for name in FIGURES}


def in_the_metrics(client, business) -> dict:
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}").content.decode()
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    figures = {
        s.labels["count"]: int(s.value)
        for s in samples
        if s.name == "outbound_calls_last_hour" and s.labels["business_id"] == str(business.pk)
    }
    ended_total = sum(int(s.value) for s in samples if s.name == "calls_ended_total")
    assert ended_total == figures["ended"]  # the all-time counter agrees with the hour's gauge
    return {name: figures[name] for name in FIGURES}


def in_the_api(api, campaign) -> dict:
    return api.get(f"/campaigns/{campaign.pk}").json()["calls"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=10))
def test_every_surface_counts_a_generated_campaign_alike(admin_client, business, settings, kinds):
    settings.METRICS_TOKEN = METRICS_TOKEN
    # Examples share the test's transaction.
    CallLog.objects.all().delete()
    CallRequest.objects.all().delete()
    Campaign.objects.all().delete()
    EndedCallTally.objects.all().delete()
    campaign = make_campaign_calls(business, kinds)
    expected = {name: sum(name in KINDS[kind][1] for kind in kinds) for name in FIGURES}

    surfaces = {
        "campaign page": on_the_campaign_page(admin_client, campaign),
        "dashboard": on_the_dashboard(admin_client, business),
        "CSV export": in_the_export(admin_client, campaign),
        "metrics": in_the_metrics(admin_client, business),
        "API": in_the_api(api_for(admin_client, business, name=f"k{len(kinds)}"), campaign),
    }

    assert surfaces == dict.fromkeys(surfaces, expected)


def test_the_reached_person_figure_and_attempts_per_person_read_the_same_calls(
    admin_client, business
):
    # The page once said "Reached a person 2" beside "1 reached" (requests done): both now count
    # the same calls.
    campaign = make_campaign_calls(business, ["person", "human by detection", "busy", "refused"])
    html = admin_client.get(f"/admin/calls/campaign/{campaign.pk}/change/").content.decode()
    assert cells(html, 'class="counts-overall"')["reached_person"] == 2
    assert "1.5 (3 attempts, 2 reached a person)" in html
