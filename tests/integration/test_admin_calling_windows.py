"""The calling window in the admin: the business and campaign forms edit it, the request pages
say why a request waits."""

from datetime import UTC, datetime

import pytest

from calls.models import Campaign
from tests.recipes import make_request

HELD = "outside the calling window until 08:00 America/New_York"


@pytest.fixture
def operator(admin_client):
    return admin_client


def business_form(business, **changes):
    data = {
        "name": business.name,
        "phone_number": business.phone_number,
        "default_purpose": business.default_purpose,
        "max_concurrent_calls": business.max_concurrent_calls,
        "max_attempts": business.max_attempts,
        "retry_delay_seconds": business.retry_delay_seconds,
        "is_active": "on",
        "time_zone": business.time_zone,
        "window_start_hour": business.window_start_hour,
        "window_end_hour": business.window_end_hour,
        "window_days": business.window_days,
    }
    return {**data, **changes}


def campaign_form(campaign, **changes):
    data = {
        "name": campaign.name,
        "say_text": campaign.say_text,
        "window_start_hour": "",
        "window_end_hour": "",
    }
    return {**data, **changes}


def test_the_business_form_shows_and_saves_the_window(operator, business):
    url = f"/admin/calls/business/{business.pk}/change/"
    page = operator.get(url).content.decode()
    assert 'name="window_days"' in page and 'name="time_zone"' in page
    assert '<option value="America/New_York">' in page
    response = operator.post(
        url,
        business_form(
            business,
            time_zone="America/New_York",
            window_start_hour=9,
            window_end_hour=20,
            window_days=["1", "2", "3", "4", "5"],
        ),
    )
    assert response.status_code == 302
    business.refresh_from_db()
    assert (business.time_zone, business.window_start_hour, business.window_end_hour) == (
        "America/New_York",
        9,
        20,
    )
    assert business.window_days == [1, 2, 3, 4, 5]
    listing = operator.get("/admin/calls/business/").content.decode()
    assert "09:00–20:00, Mon, Tue, Wed, Thu, Fri (America/New_York when unknown)" in listing


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"time_zone": "Mars/Olympus"}, "Select a valid choice."),
        ({"window_start_hour": 21, "window_end_hour": 8}, "must end after it starts"),
        ({"window_days": []}, "This field is required."),
    ],
)
def test_the_business_form_refuses_a_window_that_is_not_one(operator, business, changes, error):
    url = f"/admin/calls/business/{business.pk}/change/"
    response = operator.post(url, business_form(business, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    business.refresh_from_db()
    assert (business.time_zone, business.window_start_hour, business.window_days) == (
        "UTC",
        8,
        [1, 2, 3, 4, 5, 6, 7],
    )


def test_the_campaign_form_narrows_the_window_and_refuses_to_widen_it(operator, business):
    campaign = Campaign.objects.create(business=business, name="spring")
    url = f"/admin/calls/campaign/{campaign.pk}/change/"
    assert 'name="window_days"' in operator.get(url).content.decode()
    response = operator.post(url, campaign_form(campaign, window_end_hour=23))
    assert response.status_code == 200
    assert "A campaign may only narrow its business&#x27;s calling window" in (
        response.content.decode()
    )
    campaign.refresh_from_db()
    assert campaign.window_end_hour is None
    response = operator.post(
        url, campaign_form(campaign, window_start_hour=10, window_days=["6", "7"])
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.window_start_hour, campaign.window_end_hour) == (10, None)
    assert campaign.window_days == [6, 7]


def test_a_held_request_says_why_it_waits_and_until_when(operator, business):
    opening = datetime(2026, 1, 15, 13, tzinfo=UTC)
    held = make_request(
        business, number="+12125550123", next_attempt_at=opening, held_reason=HELD, window_holds=2
    )
    # A reason left on a request that was canceled since is not shown as a wait.
    make_request(business, number="+12125550124", status="canceled", held_reason="stale reason")
    listing = operator.get("/admin/calls/callrequest/").content.decode()
    assert HELD in listing
    assert "stale reason" not in listing
    page = operator.get(f"/admin/calls/callrequest/{held.pk}/change/").content.decode()
    assert HELD in page
    assert "2026-01-15 13:00:00 UTC" in page  # the next opening, in the operator's zone


def test_a_campaign_page_says_which_requests_wait_for_the_window(operator, business):
    campaign = Campaign.objects.create(business=business, name="spring")
    make_request(business, number="+12125550123", campaign=campaign, held_reason=HELD)
    page = operator.get(f"/admin/calls/campaign/{campaign.pk}/change/").content.decode()
    assert f"Waits: {HELD}" in page
