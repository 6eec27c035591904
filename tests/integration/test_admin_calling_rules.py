"""The calling rules page of the admin: every rule in force with its version, limits and
sources, and the question "may this number be called for this purpose at this time (and
region), and if not, when", answered with the rule that holds the call."""

import pytest
from django.contrib.auth.models import User

URL = "/admin/compliance/rules/"


@pytest.fixture
def staff(client, db):
    user = User.objects.create_user("reader", password="pw-long-enough", is_staff=True)
    client.force_login(user)
    return client


def test_the_page_lists_every_rule_with_its_version_limits_and_sources(staff):
    response = staff.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "us.toml &middot; version 2026-12-07.1" in page
    assert 'id="rule-us-fl-telemarketing"' in page
    assert "08:00–20:00; at most 3 calls in 24 h" in page
    assert '<a href="https://flsenate.gov/Session/Bill/2021/1120/BillText/er/HTML"' in page
    assert "Fla. Stat. 501.616(6)" in page
    assert "at most 7 calls in 7 days; no call within 7 days after a conversation" in page
    assert "Mon–Fri 10:00–13:00 and 14:00–20:00" in page  # France
    assert 'id="answer"' not in page


def test_the_index_links_to_the_rules(staff):
    assert URL in staff.get("/admin/").content.decode()


def test_the_form_says_yes_when_every_rule_allows(staff):
    # Times are read in the operator's zone (UTC unless chosen): 20:30 UTC is 15:30 in Miami.
    response = staff.get(
        URL, {"number": "+1 305 555 0123", "purpose": "telemarketing", "at": "2026-12-09T20:30"}
    )
    assert response.status_code == 200
    decision = response.context["answer"]["decision"]
    assert decision.allowed
    page = response.content.decode()
    assert "<strong>Yes</strong>" in page
    assert "<code>us-fl-telemarketing</code>" in page  # among the rules applied


def test_the_form_reads_the_time_in_the_operators_zone(staff):
    staff.post("/admin/preferences/", {"time_zone": "America/New_York"})
    response = staff.get(
        URL, {"number": "+13055550123", "purpose": "telemarketing", "at": "2026-12-09T20:30"}
    )
    page = response.content.decode()
    assert "<strong>Not now</strong>" in page
    assert "Florida: telemarketing 08:00–20:00 (Fla. Stat. 501.616(6)) until Thu 08:00 EST" in page
    assert "us-fl-telemarketing" in page


def test_the_form_takes_an_address_region(staff):
    response = staff.get(
        URL,
        {
            "number": "+14155550123",
            "purpose": "telemarketing",
            "at": "2026-12-10T01:30",  # 17:30 in San Francisco, 20:30 in Miami
            "region": "us-fl",
        },
    )
    answer = response.context["answer"]
    assert answer["decision"].rule.id == "us-fl-telemarketing"
    assert ("Florida", "US-FL", ("America/Chicago", "America/New_York")) in answer["jurisdictions"]


def test_bad_input_is_a_form_error_not_a_500(staff):
    response = staff.get(URL, {"number": "12", "purpose": "sales", "region": "Florida"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"number", "purpose", "region"}
    assert "ISO 3166-2" in errors["region"][0]
    assert response.context["answer"] is None


def test_people_who_are_not_staff_are_sent_to_log_in(client, db):
    client.force_login(User.objects.create_user("outsider", password="pw-long-enough"))
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
