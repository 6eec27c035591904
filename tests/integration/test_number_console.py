"""Caller numbers as people see them: the dashboard's panel (the pools and Twilio's 12-second
rule, with its warning from 8 %), the number-health page, /metrics with the number and business
labels, and the number each call showed on its page and in the API."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.keys import api_key_create
from calls.models import CallerNumber, CallLog
from calls.pool_figures import (
    account_short_call_share,
    account_short_call_shares,
    short_call_shares,
)
from calls.services.caller_numbers import business_day
from calls.services.number_health import numbers_health_run
from calls.tenancy import Role
from tests.recipes import make_ended_calls, make_request, sid
from twilio_accounts.models import TwilioAccount

FLAGGED, GOOD = "+12125550101", "+13105550188"
NOW = timedelta(seconds=1)  # ended just now: inside this month whatever the hour


def panel(client) -> str:
    html = client.get("/admin/dashboard/").content.decode()
    return html.split('class="module caller-numbers"')[1].split("</div>")[0]


def row(html: str, business) -> str:
    return html.split(f'data-business="{business.pk}"')[1].split("</tr>")[0]


@pytest.fixture
def pool(business):
    good = CallerNumber.objects.create(business=business, number=GOOD, daily_cap=80)
    flagged = CallerNumber.objects.create(business=business, number=FLAGGED, daily_cap=50)
    today, _ = business_day(business)
    CallerNumber.objects.filter(pk=good.pk).update(counted_day=today, calls_on_day=12)
    make_ended_calls(business, GOOD, answered=30, unanswered=30, ago=NOW)
    make_ended_calls(business, FLAGGED, answered=2, unanswered=40, rejected=18, ago=NOW)
    numbers_health_run(business_id=business.pk)
    return good, flagged


def test_the_12_second_share_counts_every_ended_outbound_call_of_the_month(business):
    make_ended_calls(business, GOOD, answered=91, duration=30, ago=NOW)
    make_ended_calls(business, GOOD, answered=4, duration=11, ago=NOW)
    make_ended_calls(business, GOOD, unanswered=5, ago=NOW)  # 0 s: under 12 s too
    make_ended_calls(business, GOOD, answered=50, duration=3, ago=timedelta(days=40))  # earlier

    share = short_call_shares([business.pk])[business.pk]

    assert (share.ended, share.under_12, share.answered, share.answered_under_12) == (100, 9, 95, 4)
    assert share.share == 0.09 and share.warning
    assert account_short_call_share().ended == 100


def test_the_warning_starts_at_8_percent(business, settings):
    settings.SHORT_CALL_WARNING_SHARE = 0.08
    make_ended_calls(business, GOOD, answered=93, ago=NOW)
    make_ended_calls(business, GOOD, unanswered=7, ago=NOW)
    assert not short_call_shares([business.pk])[business.pk].warning
    make_ended_calls(business, GOOD, unanswered=2, ago=NOW)  # 9 of 102: 8.8 %
    assert short_call_shares([business.pk])[business.pk].warning


def test_the_dashboard_panel_shows_the_pool_and_warns_on_short_calls(admin_client, business, pool):
    html = panel(admin_client)

    line = row(html, business)
    assert '<td class="pool">1 / 1 / 0</td>' in line
    assert '<td class="today">12 / 80</td>' in line  # the active numbers' caps
    # 88 of 120 calls ended unanswered or rejected (0 s): far over Twilio's 10 %.
    assert "73 % of 120" in line and "over 8%" in line
    assert '<span title="Answer rate 3% over 60 calls' in line and FLAGGED in line
    assert "Twilio account, this month: <strong>73 %</strong> of 120 ended outbound calls" in html
    assert "Warning: from 8%" in html


def test_a_member_sees_only_their_businesses_in_the_panel_and_no_account_line(
    member_client, business, rival, pool
):
    make_ended_calls(rival, "+15125550100", answered=10, ago=NOW)
    html = panel(member_client((rival, Role.VIEWER)))
    assert f'data-business="{rival.pk}"' in html
    assert f'data-business="{business.pk}"' not in html and FLAGGED not in html
    assert "Twilio account, this month" not in html


def test_the_number_health_page_shows_each_number_against_its_pool(member_client, business, pool):
    client = member_client((business, Role.VIEWER))
    html = client.get("/admin/calls/callernumber/health/").content.decode()

    assert "pool median answer rate 50 %" in html
    flagged = html.split(f'data-number="{FLAGGED}"')[1].split("</tr>")[0]
    assert '<td class="today">0 / 50</td>' in flagged
    assert '<td class="answer-rate">3 %</td>' in flagged
    assert '<td class="against-pool">0.1 x the median</td>' in flagged
    assert '<td class="rejected">30 %</td>' in flagged
    assert "Quarantined" in flagged and "Answer rate 3% over 60 calls" in flagged
    good = html.split(f'data-number="{GOOD}"')[1].split("</tr>")[0]
    assert '<td class="today">12 / 80</td>' in good and '<td class="reason">-</td>' in good
    listing = client.get("/admin/calls/callernumber/").content.decode()
    assert "/admin/calls/callernumber/health/" in listing


def test_the_number_health_page_is_scoped(member_client, business, rival, pool):
    html = member_client((rival, Role.MANAGER)).get("/admin/calls/callernumber/health/")
    text = html.content.decode()
    assert FLAGGED not in text and "has caller numbers" in text


TOKEN = "s3cret-metrics-token"


def test_metrics_carry_each_number_with_its_business_and_the_account_s_month(
    client, settings, business, pool
):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }
    labels = (("business_id", str(business.pk)), ("number", FLAGGED))
    assert samples["caller_number_quarantined", labels] == 1
    assert samples["caller_number_daily_cap", labels] == 50
    assert samples["caller_number_calls_judged", labels] == 60
    assert samples["caller_number_rejected_share", labels] == 0.3
    good = (("business_id", str(business.pk)), ("number", GOOD))
    assert samples["caller_number_calls_today", good] == 12
    assert samples["caller_number_answer_rate", good] == 0.5
    assert samples["caller_number_quarantined", good] == 0
    (share,) = [v for (name, _), v in samples.items() if name == "outbound_calls_under_12s_share"]
    assert share == pytest.approx(88 / 120)
    month = [dict(k) for name, k in samples if name == "outbound_calls_month_ended"]
    assert month[0]["business_id"] == str(business.pk) and len(month[0]["month"]) == 7


def test_the_12_second_share_is_per_twilio_account_the_calls_went_out_under(
    client, settings, business
):
    sub = TwilioAccount.objects.create(account_sid="AC" + "5" * 32, auth_token="b" * 32)
    make_ended_calls(business, "+14155550100", answered=3, duration=30)
    moved = make_ended_calls(business, "+14155550100", unanswered=1)
    CallLog.objects.filter(pk__in=[c.pk for c in moved]).update(twilio_account=sub)
    shares = account_short_call_shares()
    assert (shares[settings.TWILIO_ACCOUNT_SID].ended, shares[sub.account_sid].ended) == (3, 1)
    assert (shares[settings.TWILIO_ACCOUNT_SID].share, shares[sub.account_sid].share) == (0, 1)
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    by_account = {
        s.labels["account"]: s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
        if s.name == "outbound_calls_under_12s_share"
    }
    assert by_account == {settings.TWILIO_ACCOUNT_SID: 0, sub.account_sid: 1}


def test_a_call_s_page_and_the_api_show_the_number_it_was_sent_from(admin_client, client, business):
    request = make_request(business, number="+14155550999")
    call = CallLog.objects.create(
        business=business, request=request, direction="outbound", from_number=GOOD,
        to_number="+14155550999", call_sid=sid(1), status="completed",
    )  # fmt: skip
    CallLog.objects.filter(pk=call.pk).update(dial_started_at=call.created_at)

    html = admin_client.get(f"/admin/calls/calllog/{call.pk}/change/").content.decode()
    timeline = html.split('class="call-timeline"')[1].split("</table>")[0]
    assert f"from {GOOD}" in timeline
    _, key = api_key_create(business=business, name="CRM")
    read = client.get(f"/api/v1/calls/{request.pk}", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert read["calls"][0]["from_number"] == GOOD
