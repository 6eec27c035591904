"""The calling rules on the queue's rows: queuing, the claim and the moment of the create ask
the one decision (compliance.rules.call_decision) with the request's purpose, its callee's
address region and the number's attempts with the business. A held request stays queued,
uncounted, until the opening, with the rule and its reason. The rules' clock is set per test
(tests/conftest.py); every instant here is in the past, so what they schedule is due by the
database's clock and a dispatch looks at it."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calls import tasks
from calls.dashboard import campaign_results
from calls.models import CallLog, CallRequest, Campaign
from calls.services.dispatch import business_claim
from calls.services.enqueue import enqueue_outbound_call
from calls.services.placing import Placed, call_place
from compliance.purposes import Purpose
from compliance.rules import call_decision
from leads.models import Lead
from tests.api_client import api_for
from tests.recipes import consent_on_file, make_call, make_request, sid

MIAMI = "+13055550123"  # Florida, Eastern time
NEW_YORK = "+12125550123"
TOLL_FREE = "+18005550123"  # nothing tells where its callee lives
# Wednesday 14 January 2026, 10:00 in New York and Miami (EST, UTC-5).
WEDNESDAY_10AM = datetime(2026, 1, 14, 15, 0, tzinfo=UTC)


def hours(n: float, start: datetime = WEDNESDAY_10AM) -> datetime:
    return start + timedelta(hours=n)


CALLEES = (
    "+12125550123",
    "+12125550124",
    "+12125550199",
    "+13055550123",
    "+13055559998",
    "+13055559999",
    "+18005550123",
)  # every number called here


@pytest.fixture(autouse=True)
def consented(business):
    """Every callee here gave the business written consent to telemarketing calls: these tests
    are about the calling rules, which hold a call whatever its consent
    (tests/integration/test_consent.py tests consent)."""
    for number in CALLEES:
        consent_on_file(business, number)


@pytest.fixture
def campaign_for(business):
    def make(purpose: str) -> Campaign:
        return Campaign.objects.create(business=business, name=purpose, purpose=purpose)

    return make


SIDS = itertools.count(1000)


def attempts_made(business, number, *instants, **fields) -> list[CallLog]:
    """Calls of the business to `number` whose create was sent at each instant (no answer)."""
    fields.setdefault("status", CallLog.Status.NO_ANSWER)
    return [
        make_call(business, number=number, call_sid=sid(next(SIDS)), dial_started_at=at, **fields)
        for at in instants
    ]


def due(business, number, **fields) -> CallRequest:
    return make_request(business, number=number, next_attempt_at=hours(-30), **fields)


def test_the_fourth_florida_telemarketing_call_in_24_h_waits_until_24_h_after_the_first(
    business, campaign_for, fake_twilio, window_clock
):
    window_clock.set(WEDNESDAY_10AM)
    attempts_made(business, MIAMI, hours(-20), hours(-10), hours(-2))
    request = due(business, MIAMI, campaign=campaign_for(Purpose.TELEMARKETING))

    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert fake_twilio.created == []
    assert CallLog.objects.filter(request=request).count() == 0
    assert (request.status, request.attempts, request.window_holds) == ("queued", 0, 1)
    assert request.next_attempt_at == hours(4)  # 24 h after the first, 14:00 in Miami
    assert request.held_reason == (
        "Florida: 3 calls in 24 h to this number (Fla. Stat. 501.616(6)) until 14:00 EST"
    )
    assert request.held_rule == "us-fl-telemarketing"

    window_clock.set(hours(4) - timedelta(seconds=1))
    tasks.dispatch(business.pk)
    assert fake_twilio.created == []
    window_clock.set(hours(4))
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert [c["to"] for c in fake_twilio.created] == [MIAMI]
    assert (request.status, request.attempts, request.held_reason, request.held_rule) == (
        "active",
        1,
        "",
        "",
    )


def test_queuing_a_fourth_florida_telemarketing_call_schedules_it_after_the_cap(
    business, campaign_for, window_clock
):
    window_clock.set(WEDNESDAY_10AM)
    attempts_made(business, MIAMI, hours(-20), hours(-10), hours(-2))
    request = enqueue_outbound_call(
        business=business, to_number=MIAMI, campaign=campaign_for(Purpose.TELEMARKETING)
    )
    request.refresh_from_db()
    assert (request.status, request.next_attempt_at, request.window_holds) == (
        "queued",
        hours(4),
        1,
    )
    assert request.held_rule == "us-fl-telemarketing"
    assert request.held_reason.startswith("Florida: 3 calls in 24 h")


def test_calls_of_another_business_or_older_than_the_period_are_not_counted(
    business, rival, campaign_for, fake_twilio, window_clock
):
    window_clock.set(WEDNESDAY_10AM)
    attempts_made(rival, MIAMI, hours(-3), hours(-2), hours(-1))
    attempts_made(business, MIAMI, hours(-30), hours(-2), hours(-1))
    # Claimed but never sent: no create, no attempt.
    make_call(business, number=MIAMI, status=CallLog.Status.FAILED)
    due(business, MIAMI, campaign=campaign_for(Purpose.TELEMARKETING))
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [MIAMI]


def test_informational_calls_are_not_held_by_the_telemarketing_cap_nor_hours(
    business, campaign_for, fake_twilio, window_clock
):
    window_clock.set(hours(10.5))  # 20:30 in Miami: past Florida's telemarketing hours
    attempts_made(business, MIAMI, hours(-20), hours(-10), hours(-2))
    selling = due(business, MIAMI, campaign=campaign_for(Purpose.TELEMARKETING))
    reminding = due(business, MIAMI, campaign=campaign_for(Purpose.INFORMATIONAL))

    tasks.dispatch(business.pk)

    assert [c["to"] for c in fake_twilio.created] == [MIAMI]
    reminding.refresh_from_db()
    selling.refresh_from_db()
    assert reminding.status == "active"
    assert (selling.status, selling.held_rule) == ("queued", "us-fl-telemarketing")
    assert selling.held_reason == (
        "Florida: telemarketing 08:00–20:00 (Fla. Stat. 501.616(6)) until Thu 08:00 EST"
    )


def test_a_request_without_campaign_takes_the_business_default_purpose(
    business, fake_twilio, window_clock
):
    business.default_purpose = Purpose.TELEMARKETING
    business.save()
    window_clock.set(hours(10.5))  # 20:30 in Miami
    request = due(business, MIAMI)
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert fake_twilio.created == []
    assert (request.status, request.held_rule) == ("queued", "us-fl-telemarketing")


def test_an_eighth_debt_call_in_7_days_waits_until_7_days_after_the_oldest(
    business, campaign_for, fake_twilio, window_clock
):
    window_clock.set(WEDNESDAY_10AM)
    oldest = hours(-167)  # Wednesday 7 January, 11:00 in New York
    attempts_made(business, NEW_YORK, oldest, *(hours(-24 * n) for n in range(1, 7)))
    request = due(business, NEW_YORK, campaign=campaign_for(Purpose.DEBT_COLLECTION))

    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert fake_twilio.created == []
    assert (request.status, request.attempts) == ("queued", 0)
    assert request.next_attempt_at == oldest + timedelta(days=7)
    assert request.held_rule == "us-reg-f-call-frequency"
    assert request.held_reason == (
        "United States: 7 calls in 7 days to this number (12 CFR 1006.14(b)(2)) until 11:00 EST"
    )


def test_a_debt_call_waits_7_days_after_a_conversation_not_after_a_machine(
    business, campaign_for, fake_twilio, window_clock
):
    window_clock.set(WEDNESDAY_10AM)
    talked = hours(-72)
    attempts_made(
        business,
        NEW_YORK,
        talked - timedelta(minutes=3),
        status=CallLog.Status.COMPLETED,
        answered_by=CallLog.AnsweredBy.HUMAN,
        ended_at=talked,
    )
    attempts_made(
        business,
        "+12125550124",
        talked,
        status=CallLog.Status.COMPLETED,
        answered_by=CallLog.AnsweredBy.MACHINE_END_BEEP,
        ended_at=talked,
    )
    debt = campaign_for(Purpose.DEBT_COLLECTION)
    person = due(business, NEW_YORK, campaign=debt)
    machine = due(business, "+12125550124", campaign=debt)

    tasks.dispatch(business.pk)

    assert [c["to"] for c in fake_twilio.created] == ["+12125550124"]
    person.refresh_from_db()
    machine.refresh_from_db()
    assert machine.status == "active"
    assert (person.status, person.next_attempt_at) == ("queued", talked + timedelta(days=7))
    assert person.held_reason.startswith(
        "United States: no call within 7 days after a conversation"
    )


def test_a_claim_a_rule_forbids_by_send_time_is_held_not_dialed(
    business, campaign_for, fake_twilio, window_clock
):
    before_eight = datetime(2026, 1, 15, 0, 59, 59, tzinfo=UTC)  # 19:59:59 in Miami
    window_clock.set(before_eight)
    due(business, MIAMI, campaign=campaign_for(Purpose.TELEMARKETING))
    (call_id,) = business_claim(business_id=business.pk)
    window_clock.set(before_eight + timedelta(seconds=2))  # its token came at 20:00:01

    assert call_place(call_id=call_id) is Placed.RELEASED

    assert fake_twilio.created == []
    assert not CallLog.objects.exists()
    request = CallRequest.objects.get()
    assert (request.status, request.attempts, request.window_holds) == ("queued", 0, 1)
    assert request.next_attempt_at == datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
    assert request.held_rule == "us-fl-telemarketing"
    assert request.held_reason == (
        "Florida: telemarketing 08:00–20:00 (Fla. Stat. 501.616(6)) until Thu 08:00 EST"
    )


def test_a_claim_whose_cap_filled_by_send_time_is_held_not_dialed(
    business, campaign_for, fake_twilio, window_clock
):
    window_clock.set(WEDNESDAY_10AM)
    attempts_made(business, MIAMI, hours(-20), hours(-10))
    due(business, MIAMI, campaign=campaign_for(Purpose.TELEMARKETING))
    (call_id,) = business_claim(business_id=business.pk)
    # Another campaign's call to the number was sent meanwhile: the third in 24 h.
    attempts_made(business, MIAMI, hours(0))

    assert call_place(call_id=call_id) is Placed.RELEASED

    assert fake_twilio.created == []
    request = CallRequest.objects.get()
    assert (request.status, request.attempts, request.next_attempt_at) == ("queued", 0, hours(4))
    assert request.held_rule == "us-fl-telemarketing"


def test_an_address_region_stricter_than_the_numbers_holds_the_call(
    business, campaign_for, fake_twilio, window_clock
):
    window_clock.set(hours(10.5))  # 20:30 in New York: inside New York's hours, not Florida's
    selling = campaign_for(Purpose.TELEMARKETING)
    lead = Lead.objects.create(business=business, phone_number=NEW_YORK, region="US-FL")
    moved = due(business, NEW_YORK, campaign=selling, lead=lead)
    due(business, "+12125550124", campaign=selling)

    tasks.dispatch(business.pk)

    assert [c["to"] for c in fake_twilio.created] == ["+12125550124"]
    moved.refresh_from_db()
    assert (moved.status, moved.held_rule) == ("queued", "us-fl-telemarketing")
    # 08:00 in Florida's panhandle (Central time) is 09:00 in New York.
    assert moved.next_attempt_at == datetime(2026, 1, 15, 14, 0, tzinfo=UTC)
    assert moved.held_reason == (
        "Florida: telemarketing 08:00–20:00 (Fla. Stat. 501.616(6)) until Thu 09:00 EST"
    )


@pytest.mark.parametrize(
    ("number", "region"), [(TOLL_FREE, ""), (NEW_YORK, "US")], ids=["toll-free", "country-only"]
)
def test_a_callee_whose_region_cannot_be_told_gets_the_strictest_rules_of_the_country(
    business, campaign_for, fake_twilio, window_clock, number, region
):
    sunday = datetime(2026, 1, 18, 18, 0, tzinfo=UTC)  # Sunday 13:00 in New York
    window_clock.set(sunday)
    lead = Lead.objects.create(business=business, phone_number=number, region=region)
    selling = campaign_for(Purpose.TELEMARKETING)
    unknown = due(business, number, campaign=selling, lead=lead)
    known = due(business, "+12125550199", campaign=selling)

    tasks.dispatch(business.pk)

    assert [c["to"] for c in fake_twilio.created] == [known.to_number]
    unknown.refresh_from_db()
    expected = call_decision(
        number=number, purpose="telemarketing", at=sunday, region=region or None
    )
    assert (unknown.status, unknown.attempts) == ("queued", 0)
    assert (unknown.next_attempt_at, unknown.held_reason) == (expected.opening, expected.reason)
    assert unknown.next_attempt_at > sunday + timedelta(days=1)  # no Sunday calls in Alabama
    assert unknown.held_rule == expected.rule.id
    assert expected.rule.jurisdiction.startswith("US-")


def test_a_rule_with_no_opening_in_the_horizon_fails_the_request_with_the_reason(
    business, campaign_for, fake_twilio, window_clock
):
    business.window_start_hour, business.window_end_hour = 20, 21
    business.save()
    window_clock.set(WEDNESDAY_10AM)
    request = due(business, MIAMI, campaign=campaign_for(Purpose.TELEMARKETING))

    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert fake_twilio.created == []
    assert (request.status, request.attempts) == ("failed", 0)
    assert request.last_error.startswith("Not called: ")
    assert request.last_error.endswith("with no opening in the next 8 days.")


def test_the_api_read_says_which_rule_holds_a_request(client, business, campaign_for, window_clock):
    window_clock.set(WEDNESDAY_10AM)
    attempts_made(business, MIAMI, hours(-20), hours(-10), hours(-2))
    held = enqueue_outbound_call(
        business=business, to_number=MIAMI, campaign=campaign_for(Purpose.TELEMARKETING)
    )
    window_clock.set(hours(14))  # 00:00 in New York: the window holds it
    by_window = enqueue_outbound_call(business=business, to_number=NEW_YORK)
    free = make_request(business, number="+12125550124")
    api = api_for(client, business)

    body = api.get(f"/calls/{held.pk}").json()
    assert body["waiting_for"].startswith("Florida: 3 calls in 24 h to this number")
    assert body["held_by"] == {
        "rule": "us-fl-telemarketing",
        "jurisdiction": "US-FL",
        "source": "Fla. Stat. 501.616(6)",
        "url": "https://flsenate.gov/Session/Bill/2021/1120/BillText/er/HTML",
    }
    body = api.get(f"/calls/{by_window.pk}").json()
    assert body["held_by"] == {"rule": "", "jurisdiction": "", "source": "", "url": ""}
    assert body["waiting_for"].startswith("outside the calling window")
    assert api.get(f"/calls/{free.pk}").json()["held_by"] is None


def test_the_campaign_page_counts_the_requests_held_now_per_rule(
    admin_client, business, campaign_for
):
    campaign = campaign_for(Purpose.TELEMARKETING)
    later = timezone.now() + timedelta(hours=3)
    holds = [
        ("us-fl-telemarketing", "Florida: ..."),
        ("us-fl-telemarketing", "Florida: ..."),
        ("us-al-telemarketing", "Alabama: ..."),
        ("", "outside the calling window ..."),
    ]
    for n, (rule, reason) in enumerate(holds):
        make_request(
            business,
            number=f"+1305555{n:04d}",
            campaign=campaign,
            next_attempt_at=later,
            held_rule=rule,
            held_reason=reason,
        )
    # Due again (its opening came), and one not held: neither is counted.
    make_request(business, number="+13055559998", campaign=campaign, held_reason="Florida: ...")
    make_request(business, number="+13055559999", campaign=campaign, next_attempt_at=later)

    results = campaign_results(campaign)

    assert results.held == 4
    assert results.held_by_rule == [
        ("Florida: us-fl-telemarketing (Fla. Stat. 501.616(6))", 2),
        ("Alabama: us-al-telemarketing (Ala. Admin. Code r. 770-X-5-.17(1)(b))", 1),
        ("The calling window (the business's or campaign's hours and days)", 1),
    ]
    html = admin_client.get(reverse("admin:calls_campaign_change", args=[campaign.pk]))
    table = html.content.decode().split('class="campaign-held-by-rule"')[1].split("</table>")[0]
    assert (
        '<th scope="row">Florida: us-fl-telemarketing (Fla. Stat. 501.616(6))</th>'
        '<td class="held-by-rule">2</td>'
    ) in table
