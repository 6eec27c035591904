"""Calling windows at queuing, dispatch and retry: a callee is dialed only inside the window in
every time zone their number may be in. The window clock is set per test (tests/conftest.py);
every instant set here is in the past, so what the window schedules is due by the database's
clock and a dispatch looks at it."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from calls import tasks
from calls.models import CallLog, CallRequest, Campaign
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call
from tests.recipes import callback, make_request

LOS_ANGELES = "+14155550123"
NEW_YORK = "+12125550123"
# North Dakota's 701 spans Central and Mountain time: phonenumbers gives both zones.
NORTH_DAKOTA = "+17015550123"
# A Wednesday on standard time: 08:00 is 13:00 UTC in New York, 14:00 Central, 15:00 Mountain,
# 16:00 Pacific.
WEDNESDAY = datetime(2026, 1, 14, tzinfo=UTC)

DAILY = "outside the calling window (08:00–21:00, every day)"


def at(hours: float, day: datetime = WEDNESDAY) -> datetime:
    return day + timedelta(hours=hours)


def due_request(business, number, **fields) -> CallRequest:
    return make_request(business, number=number, next_attempt_at=at(-1), **fields)


def test_a_number_outside_the_window_in_every_zone_is_not_dialed_and_waits_for_the_opening(
    business, fake_twilio, window_clock
):
    window_clock.set(at(12))  # 04:00 in Los Angeles
    request = due_request(business, LOS_ANGELES)
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert fake_twilio.created == []
    assert not CallLog.objects.exists()
    assert (request.status, request.attempts, request.window_holds) == ("queued", 0, 1)
    assert request.next_attempt_at == at(16)
    assert request.held_reason == f"{DAILY} until 08:00 PST"


def test_a_number_whose_zones_straddle_the_opening_waits_for_the_later_one(
    business, fake_twilio, window_clock
):
    window_clock.set(at(14.5))  # 08:30 Central, 07:30 Mountain
    request = due_request(business, NORTH_DAKOTA)
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert fake_twilio.created == []
    assert request.next_attempt_at == at(15)
    assert request.held_reason == f"{DAILY} until 08:00 MST"
    window_clock.set(at(15))
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert [c["to"] for c in fake_twilio.created] == [NORTH_DAKOTA]
    assert (request.status, request.attempts, request.window_holds) == ("active", 1, 1)
    assert request.held_reason == ""


def test_a_number_inside_the_window_is_dialed(business, fake_twilio, window_clock):
    window_clock.set(at(14.5))  # 09:30 in New York
    request = due_request(business, NEW_YORK)
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert [c["to"] for c in fake_twilio.created] == [NEW_YORK]
    assert (request.status, request.attempts, request.window_holds) == ("active", 1, 0)
    assert CallLog.objects.get().request == request


def test_a_number_of_unknown_zone_is_judged_in_the_business_zone(
    business, fake_twilio, window_clock
):
    business.time_zone = "Asia/Tokyo"
    business.save()
    window_clock.set(at(20))  # 05:00 Thursday in Tokyo
    request = due_request(business, "+80012345678")
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert fake_twilio.created == []
    assert request.next_attempt_at == at(23)
    assert request.held_reason == f"{DAILY} until 08:00 JST"


def test_held_requests_do_not_starve_a_callable_one_behind_them(
    business, fake_twilio, window_clock
):
    business.max_concurrent_calls = 1
    business.save()
    window_clock.set(at(13.5))  # 08:30 in New York, 05:30 in Los Angeles
    # More held requests ahead of it than one claim used to look at (free * 4 + 10).
    held = [
        make_request(business, number=f"+1415555{n:04d}", next_attempt_at=at(-2)) for n in range(20)
    ]
    callable_one = due_request(business, NEW_YORK)
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [NEW_YORK]
    callable_one.refresh_from_db()
    assert callable_one.status == "active"
    rows = CallRequest.objects.filter(pk__in=[r.pk for r in held])
    assert set(rows.values_list("status", "next_attempt_at", "window_holds")) == {
        ("queued", at(16), 1)
    }


def test_a_campaigns_narrower_hours_win(business, fake_twilio, window_clock):
    campaign = Campaign.objects.create(
        business=business, name="late morning", window_start_hour=10, window_end_hour=12
    )
    window_clock.set(at(17))  # 09:00 in Los Angeles: inside the business's window
    request = due_request(business, LOS_ANGELES, campaign=campaign)
    plain = due_request(business, "+14155550124")
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [plain.to_number]
    request.refresh_from_db()
    assert (request.status, request.next_attempt_at) == ("queued", at(18))
    assert request.held_reason == (
        "outside the calling window (10:00–12:00, every day) until 10:00 PST"
    )


def test_a_campaigns_days_win(business, fake_twilio, window_clock):
    campaign = Campaign.objects.create(business=business, name="weekdays", window_days=[1, 2, 3])
    saturday = WEDNESDAY + timedelta(days=3)
    window_clock.set(at(20, saturday))  # Saturday noon in Los Angeles
    request = due_request(business, LOS_ANGELES, campaign=campaign)
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert fake_twilio.created == []
    assert request.next_attempt_at == at(16, saturday + timedelta(days=2))
    assert request.held_reason == (
        "outside the calling window (08:00–21:00, Mon, Tue, Wed) until Mon 08:00 PST"
    )


def test_a_window_that_never_opens_fails_the_request_with_the_reason(
    business, fake_twilio, window_clock
):
    campaign = Campaign.objects.create(business=business, name="c", window_days=[6])
    business.window_days = [1, 2, 3, 4, 5]  # changed after the campaign was set up
    business.save()
    window_clock.set(at(20))
    request = due_request(business, LOS_ANGELES, campaign=campaign)
    with pytest.raises(EnqueueRefused) as refused:
        enqueue_outbound_call(business=business, to_number=NEW_YORK, campaign=campaign)
    assert refused.value.code == EnqueueRefused.NO_CALLING_WINDOW
    assert "with no opening in the next 8 days" in str(refused.value)
    assert CallRequest.objects.count() == 1

    tasks.dispatch(business.pk)

    request.refresh_from_db()
    assert fake_twilio.created == []
    assert (request.status, request.attempts) == ("failed", 0)
    assert request.last_error == (
        "Not called: outside the calling window (08:00–21:00, no day), with no opening in the "
        "next 8 days."
    )
    campaign.refresh_from_db()
    assert campaign.status == "done"  # nothing left to call


def test_queuing_outside_the_window_schedules_the_opening(
    business, queue, window_clock, django_capture_on_commit_callbacks
):
    window_clock.set(at(2 + 24))  # Wednesday 18:00 in Los Angeles, 21:00 in New York
    with django_capture_on_commit_callbacks(execute=True):
        inside = enqueue_outbound_call(business=business, to_number=LOS_ANGELES)
        outside = enqueue_outbound_call(business=business, to_number=NEW_YORK)
    assert (inside.held_reason, inside.window_holds) == ("", 0)
    assert inside.next_attempt_at > at(-1)  # now, on the database's clock
    outside.refresh_from_db()
    assert outside.next_attempt_at == at(13 + 24)
    assert outside.window_holds == 1
    assert outside.held_reason == f"{DAILY} until Thu 08:00 EST"
    assert queue() == [("calls.tasks.dispatch", (business.pk,))] * 2


def test_the_enqueue_command_says_when_a_number_waits_for_its_window(business, window_clock):
    window_clock.set(at(2 + 24))  # Wednesday 18:00 in Los Angeles, 21:00 in New York
    out = StringIO()
    call_command("enqueue_calls", "--business", business.pk, LOS_ANGELES, NEW_YORK, stdout=out)
    assert out.getvalue().splitlines() == [
        f"{LOS_ANGELES}: queued as {LOS_ANGELES}",
        f"{NEW_YORK}: queued as {NEW_YORK} "
        "(outside the calling window (08:00–21:00, every day) until Thu 08:00 EST)",
        "2 queued, 0 refused.",
    ]


def test_a_retry_backoff_that_lands_at_night_moves_to_the_morning(
    business, fake_twilio, twilio_post, window_clock
):
    window_clock.set(at(4 + 24) + timedelta(minutes=58))  # 20:58 in Los Angeles
    request = due_request(business, LOS_ANGELES)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    # The backoff, 300 s ± 20 %, ends after 21:00.
    response = twilio_post(
        f"/twilio/calls/{call.public_id}/status", callback(call.call_sid, "busy", 4)
    )
    assert response.status_code == 204
    request.refresh_from_db()
    assert (request.status, request.attempts, request.window_holds) == ("queued", 1, 1)
    assert request.next_attempt_at == at(16 + 24)
    assert request.held_reason == f"{DAILY} until Thu 08:00 PST"
    window_clock.set(at(5 + 24) + timedelta(minutes=5))  # the backoff is over: 21:05
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 1
    window_clock.set(at(16 + 24))
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [LOS_ANGELES] * 2


def test_a_retry_backoff_inside_the_window_keeps_its_delay(
    business, fake_twilio, twilio_post, window_clock
):
    window_clock.set(at(20))  # noon in Los Angeles
    request = due_request(business, LOS_ANGELES)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    twilio_post(f"/twilio/calls/{call.public_id}/status", callback(call.call_sid, "busy", 4))
    request.refresh_from_db()
    assert (request.status, request.window_holds, request.held_reason) == ("queued", 0, "")
    assert request.next_attempt_at > at(-1)  # the backoff from the database's now


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"window_start_hour": 7}, "may only narrow its business's calling window"),
        ({"window_end_hour": 22}, "may only narrow its business's calling window"),
        ({"window_days": [1, 8]}, "Weekdays are numbers from 1 (Monday) to 7 (Sunday)."),
        ({"window_start_hour": 12, "window_end_hour": 10}, "must end after it starts"),
        ({"window_start_hour": 22}, "must end after it starts"),
    ],
)
def test_a_campaign_window_that_does_not_narrow_is_refused(business, fields, message):
    campaign = Campaign(business=business, name="c", **fields)
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "is not a time zone name"),
        ({"window_start_hour": 21, "window_end_hour": 8}, "must end after it starts"),
        ({"window_end_hour": 25}, "less than or equal to 24"),
        ({"window_days": []}, "Choose at least one day."),
    ],
)
def test_a_business_window_must_be_a_real_one(business, fields, message):
    for name, value in fields.items():
        setattr(business, name, value)
    with pytest.raises(ValidationError) as error:
        business.full_clean()
    assert message in str(error.value)
