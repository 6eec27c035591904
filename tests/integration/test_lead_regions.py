"""Where a callee lives (Lead.region, ISO 3166-2): set from the admin, campaign lists and the
API's `lead`, checked against the regions the calling rules know, and judged with the call
from the moment it is queued (its rules apply besides those of the number's region)."""

from datetime import UTC, datetime

import pytest

from calls.models import CallRequest, Campaign, DoNotCall
from leads.models import Lead
from leads.services import lead_named
from tests.api_client import api_for
from tests.recipes import consent_on_file

ADD = "/admin/calls/campaign/add/"
NEW_YORK = "+12125550123"
# Wednesday 14 January 2026, 20:30 in New York: past Florida's telemarketing hours (20:00).
EVENING = datetime(2026, 1, 15, 1, 30, tzinfo=UTC)
FLORIDA_HELD = "Florida: telemarketing 08:00–20:00 (Fla. Stat. 501.616(6)) until Thu 09:00 EST"


CALLEES = (
    "+12125550123",
    "+12125550124",
    "+12125550125",
    "+12125550126",
    "+12125550127",
)  # every number called here


@pytest.fixture(autouse=True)
def consented(business):
    """Every callee here gave the business written consent to telemarketing calls: these tests
    are about the calling rules, which hold a call whatever its consent
    (tests/integration/test_consent.py tests consent)."""
    for number in CALLEES:
        consent_on_file(business, number)


@pytest.fixture
def api(client, business):
    return api_for(client, business)


def test_an_operator_sets_a_leads_region_and_an_unknown_one_is_refused(member_client, business):
    lead = Lead.objects.create(business=business, phone_number=NEW_YORK, name="Ann")
    client = member_client((business, "operator"))
    change = f"/admin/leads/lead/{lead.pk}/change/"
    form = {"phone_number": NEW_YORK, "name": "Ann", "status": "new", "source": "manual"}
    form |= {f"calls-{k}": v for k, v in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()}

    response = client.post(change, {**form, "region": "XX-ZZ"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["region"] == [
        "XX-ZZ is not a region the calling rules know."
    ]
    response = client.post(change, {**form, "region": "Fla"})
    assert response.context["adminform"].form.errors["region"] == [
        "Give an ISO 3166-2 code such as US-FL."
    ]
    lead.refresh_from_db()
    assert lead.region == ""

    response = client.post(change, {**form, "region": "US-FL"})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.region == "US-FL"


def test_a_campaign_list_gives_regions_judged_when_each_number_is_queued(
    member_client, business, window_clock
):
    window_clock.set(EVENING)
    DoNotCall.objects.create(business=business, phone_number="+12125550126")
    client = member_client((business, "manager"))
    pasted = (
        f"{NEW_YORK}, Ann Lee, US-FL\n"
        "+12125550124, , us-ny\n"
        "+12125550125, Bo, XX-ZZ\n"
        "+12125550126, Cy, US-FL\n"
        "+12125550127"
    )
    form = {
        "business": business.pk,
        "name": "Spring",
        "purpose": "telemarketing",
        "say_text": "Hello.",
        "numbers": pasted,
    }
    response = client.post(ADD, form)

    assert response.status_code == 200
    body = response.content.decode()
    assert "3 queued</strong>, 2 refused" in body
    assert "Region XX-ZZ is not a region the calling rules know." in body
    campaign = Campaign.objects.get()
    ann = Lead.objects.get(phone_number=NEW_YORK)
    assert (ann.name, ann.region) == ("Ann Lee", "US-FL")
    assert Lead.objects.get(phone_number="+12125550124").region == "US-NY"
    # The refused rows (an unknown region, a listed number) leave no lead behind.
    assert set(Lead.objects.values_list("phone_number", flat=True)) == {NEW_YORK, "+12125550124"}
    held = CallRequest.objects.get(campaign=campaign, to_number=NEW_YORK)
    assert held.lead == ann
    assert (held.held_rule, held.held_reason, held.window_holds) == (
        "us-fl-telemarketing",
        FLORIDA_HELD,
        1,
    )
    assert set(
        CallRequest.objects.filter(campaign=campaign)
        .exclude(pk=held.pk)
        .values_list("held_reason", flat=True)
    ) == {""}


def test_the_api_takes_the_leads_region_and_says_what_holds_the_call(api, business, window_clock):
    business.default_purpose = "telemarketing"
    business.save()
    window_clock.set(EVENING)
    response = api.post("/calls", {"to": NEW_YORK, "lead": {"name": "Ann", "region": "US-FL"}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["waiting_for"]) == ("queued", FLORIDA_HELD)
    assert body["next_attempt_at"].startswith("2026-01-15T14:00:00")
    assert Lead.objects.get().region == "US-FL"


def test_the_api_refuses_an_unknown_region_and_keeps_nothing(api, business):
    response = api.post("/calls", {"to": NEW_YORK, "lead": {"region": "US-ZZ"}})
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "invalid-region"
    assert response.json()["errors"] == [
        {"field": "lead.region", "message": "US-ZZ is not a region the calling rules know."}
    ]
    response = api.post("/calls", {"to": NEW_YORK, "lead": {"region": "florida"}})
    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == ["lead.region"]
    assert not CallRequest.objects.exists() and not Lead.objects.exists()


def test_the_api_campaign_numbers_take_regions(api, business, window_clock):
    window_clock.set(EVENING)
    response = api.post(
        "/campaigns",
        {
            "name": "spring",
            "purpose": "telemarketing",
            "numbers": [{"to": NEW_YORK, "region": "US-FL"}, {"to": "+12125550124"}],
        },
    )
    assert response.status_code == 201, response.content
    assert [n["status"] for n in response.json()["numbers"]] == ["queued", "queued"]
    held = CallRequest.objects.get(to_number=NEW_YORK)
    assert (held.lead.region, held.held_reason) == ("US-FL", FLORIDA_HELD)
    assert CallRequest.objects.get(to_number="+12125550124").held_reason == ""


def test_a_list_or_the_api_completes_a_leads_region_never_changes_it(business):
    lead = Lead.objects.create(business=business, phone_number=NEW_YORK, region="US-NY")
    assert lead_named(business=business, phone_number=NEW_YORK, region="US-FL").region == "US-NY"
    lead.refresh_from_db()
    assert lead.region == "US-NY"
    Lead.objects.filter(pk=lead.pk).update(region="")
    assert lead_named(business=business, phone_number=NEW_YORK, region="US-FL").region == "US-FL"
    lead.refresh_from_db()
    assert lead.region == "US-FL"
