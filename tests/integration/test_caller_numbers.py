"""A business's caller numbers as a pool: which number each call shows, the daily caps, the
holds when no number may call, importing the pool from Twilio, and its admin."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from calls import tasks
from calls.models import CallerNumber, CallLog, CallRequest
from calls.services.caller_numbers import (
    POOL_HOLD_PREFIX,
    business_day,
    caller_number_take,
)
from calls.services.dispatch import business_claim
from calls.services.enqueue import enqueue_outbound_call
from calls.services.placing import Placed, call_place
from calls.services.status import StatusReport, call_status_apply
from calls.tenancy import Role
from calls.twilio_client import ErrorKind, TwilioError
from tests.racing import race
from twilio_sim.control import SimControl
from twilio_sim.server import Simulator

SAN_FRANCISCO = "+14155550123"  # California, 415-555
LOS_ANGELES = "+13105550188"  # California, 310-555
NEW_YORK = "+12125550101"  # New York, 212-555
CALLEE_SF = "+14155550999"  # California, 415-555: the same NPA-NXX as SAN_FRANCISCO


def pool(business, *numbers, **fields):
    return [CallerNumber.objects.create(business=business, number=n, **fields) for n in numbers]


def used_today(number: CallerNumber) -> int:
    number.refresh_from_db()
    today, _ = business_day(number.business)
    return number.calls_on_day if number.counted_day == today else 0


def fill(number: CallerNumber, calls: int) -> None:
    today, _ = business_day(number.business)
    CallerNumber.objects.filter(pk=number.pk).update(counted_day=today, calls_on_day=calls)


def test_a_number_gets_its_region_from_its_area_code(business):
    (sf, ny) = pool(business, SAN_FRANCISCO, NEW_YORK)
    assert (sf.region, ny.region) == ("US-CA", "US-NY")


def test_a_call_shows_a_same_state_number_and_never_one_sharing_the_callee_s_npa_nxx(
    business, fake_twilio
):
    sf, la, ny = pool(business, SAN_FRANCISCO, LOS_ANGELES, NEW_YORK)
    fill(la, 50)  # busier than New York's: same state still comes first

    enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    tasks.dispatch(business.pk)

    (created,) = fake_twilio.created
    assert created["from_"] == LOS_ANGELES
    call = CallLog.objects.get(to_number=CALLEE_SF)
    assert call.from_number == LOS_ANGELES
    assert (used_today(sf), used_today(la), used_today(ny)) == (0, 51, 0)


def test_the_only_same_state_number_sharing_the_npa_nxx_gives_way_to_another_state(business):
    pool(business, SAN_FRANCISCO, NEW_YORK)
    assert caller_number_take(business=business, to_number=CALLEE_SF) == NEW_YORK


def test_the_least_used_number_today_is_chosen_among_equals(business):
    ny, texas = pool(business, NEW_YORK, "+15125550100")
    fill(ny, 3)
    fill(texas, 2)
    florida = "+13055550123"  # neither number is local: the one used less today calls
    assert caller_number_take(business=business, to_number=florida) == "+15125550100"
    assert caller_number_take(business=business, to_number=florida) == NEW_YORK  # 3 each: by pk
    assert (used_today(ny), used_today(texas)) == (4, 3)


def test_yesterday_s_count_does_not_hold_today(business):
    (ny,) = pool(business, NEW_YORK, daily_cap=2)
    today, _ = business_day(business)
    CallerNumber.objects.filter(pk=ny.pk).update(
        counted_day=today - timedelta(days=1), calls_on_day=2
    )
    assert caller_number_take(business=business, to_number=CALLEE_SF) == NEW_YORK
    assert used_today(ny) == 1


def test_a_number_at_its_daily_cap_is_not_used(business, fake_twilio):
    la, ny = pool(business, LOS_ANGELES, NEW_YORK, daily_cap=5)
    fill(la, 5)

    enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    tasks.dispatch(business.pk)

    assert [c["from_"] for c in fake_twilio.created] == [NEW_YORK]
    assert (used_today(la), used_today(ny)) == (5, 1)


def test_quarantined_and_retired_numbers_are_not_used(business):
    pool(business, LOS_ANGELES, status="quarantined")
    pool(business, "+13105550199", status="retired")
    (ny,) = pool(business, NEW_YORK)
    assert caller_number_take(business=business, to_number=CALLEE_SF) == NEW_YORK


def test_a_business_without_a_pool_calls_from_its_own_number(business, fake_twilio):
    pool(business, NEW_YORK, status="retired")
    enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    tasks.dispatch(business.pk)
    assert [c["from_"] for c in fake_twilio.created] == [business.phone_number]


def reset_of(business):
    _, reset = business_day(business)
    return reset


def test_every_number_at_its_cap_holds_the_queue_until_the_next_day_uncounted(
    business, fake_twilio
):
    business.time_zone = "America/New_York"
    business.save()
    la, ny = pool(business, LOS_ANGELES, NEW_YORK, daily_cap=1)
    fill(la, 1)
    fill(ny, 1)
    requests = [
        enqueue_outbound_call(business=business, to_number=n)
        for n in ("+14155550301", "+14155550302")
    ]

    tasks.dispatch(business.pk)

    assert fake_twilio.created == []
    assert not CallLog.objects.exists()
    reset = reset_of(business)
    assert reset.astimezone(ZoneInfo("America/New_York")).time().isoformat() == "00:00:00"
    for request in requests:
        request.refresh_from_db()
        assert (request.status, request.attempts, request.window_holds) == ("queued", 0, 0)
        assert request.next_attempt_at == reset
        assert request.held_reason.startswith(POOL_HOLD_PREFIX)
        assert "daily cap" in request.held_reason and "America/New_York" in request.held_reason


def test_a_cap_reached_between_the_claim_and_the_create_holds_that_call_uncounted(
    business, fake_twilio
):
    (ny,) = pool(business, NEW_YORK, daily_cap=1)
    request = enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    (call_id,) = business_claim(business_id=business.pk)
    fill(ny, 1)  # another worker placed the day's last call meanwhile

    assert call_place(call_id=call_id) == Placed.RELEASED

    assert fake_twilio.created == []
    assert not CallLog.objects.filter(pk=call_id).exists()
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 0)
    assert request.next_attempt_at == reset_of(business)
    assert request.held_reason.startswith(POOL_HOLD_PREFIX)
    assert used_today(ny) == 1


def test_a_pool_of_the_callee_s_own_exchange_only_cancels_with_the_reason(business, fake_twilio):
    pool(business, SAN_FRANCISCO)
    request = enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    (call_id,) = business_claim(business_id=business.pk)

    call_place(call_id=call_id)

    assert fake_twilio.created == []
    request.refresh_from_db()
    assert request.status == "canceled"
    assert "neighbor spoofing" in request.last_error


def test_an_all_quarantined_pool_holds_until_the_first_number_returns(business, settings):
    settings.NUMBER_QUARANTINE_HOURS = 72
    since = timezone.now() - timedelta(hours=10)
    pool(business, NEW_YORK, status="quarantined", quarantined_at=since)
    request = enqueue_outbound_call(business=business, to_number=CALLEE_SF)

    assert business_claim(business_id=business.pk) == []

    request.refresh_from_db()
    assert request.next_attempt_at == since + timedelta(hours=72)
    assert "quarantined" in request.held_reason


def test_a_number_added_lets_the_held_requests_go_at_once(
    admin_client, business, queue, django_capture_on_commit_callbacks
):
    (ny,) = pool(business, NEW_YORK, daily_cap=1)
    fill(ny, 1)
    request = enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    business_claim(business_id=business.pk)
    request.refresh_from_db()
    assert request.next_attempt_at > timezone.now()
    queue()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/calls/callernumber/add/",
            {
                "business": business.pk,
                "number": "(310) 555-0188",
                "status": "active",
                "daily_cap": 10,
            },
        )

    assert response.status_code == 302
    assert CallerNumber.objects.get(number=LOS_ANGELES).region == "US-CA"
    request.refresh_from_db()
    assert request.next_attempt_at <= timezone.now() and request.held_reason == ""
    assert ("calls.tasks.dispatch", (business.pk,)) in queue()


def test_a_create_twilio_refused_gives_the_number_s_count_back(business, fake_twilio):
    (ny,) = pool(business, NEW_YORK)
    fake_twilio.create_error = TwilioError(
        kind=ErrorKind.REFUSED_NUMBER, code="21211", message="Invalid 'To' Phone Number"
    )
    enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    tasks.dispatch(business.pk)

    assert [c["from_"] for c in fake_twilio.created] == [NEW_YORK]
    assert used_today(ny) == 0


def test_a_retry_may_use_another_number(business, fake_twilio):
    pool(business, LOS_ANGELES, NEW_YORK, daily_cap=1)
    request = enqueue_outbound_call(business=business, to_number=CALLEE_SF)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    call_status_apply(call=call, report=StatusReport("busy"))
    CallRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
    tasks.dispatch(business.pk)

    assert [c["from_"] for c in fake_twilio.created] == [LOS_ANGELES, NEW_YORK]
    assert list(CallLog.objects.order_by("pk").values_list("from_number", flat=True)) == [
        LOS_ANGELES,
        NEW_YORK,
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_workers_never_place_more_than_a_number_s_daily_cap(business):
    (ny,) = pool(business, NEW_YORK, daily_cap=5)

    taken = race(*[lambda: caller_number_take(business=business, to_number=CALLEE_SF)] * 12)

    assert taken.count(NEW_YORK) == 5
    assert all(getattr(t, "opening", None) == reset_of(business) for t in taken if t != NEW_YORK)
    assert used_today(ny) == 5


# --- importing the pool from Twilio (the local Twilio's IncomingPhoneNumbers)

SID, TOKEN = "AC" + "5" * 32, "numbers-token"


@pytest.fixture(scope="module")
def simulator():
    with Simulator(account_sid=SID, auth_token=TOKEN, port=0) as sim:
        yield sim


@pytest.fixture
def sim(simulator, settings):
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_API_BASE_URL = simulator.base_url
    control = SimControl(simulator.base_url)
    control.reset()
    return control


def test_twilio_numbers_sync_imports_the_account_s_numbers(business, rival, sim, capsys):
    pool(rival, "+15125550100")
    retired_sid = CallerNumber.objects.create(
        business=business, number="+16175550100", twilio_sid="PNgone"
    )
    sim.configure(
        incoming_numbers=[NEW_YORK, LOS_ANGELES, "+15125550100", rival.phone_number],
    )

    call_command("twilio_numbers_sync", business=business.pk)

    numbers = dict(CallerNumber.objects.filter(business=business).values_list("number", "status"))
    assert numbers == {NEW_YORK: "active", LOS_ANGELES: "active", "+16175550100": "retired"}
    assert CallerNumber.objects.get(number=NEW_YORK).twilio_sid.startswith("PN")
    assert CallerNumber.objects.get(number="+15125550100").business == rival
    out = capsys.readouterr().out
    assert "2 added, 0 already in the pool, 1 retired (gone from Twilio), 2 skipped." in out
    retired_sid.refresh_from_db()
    assert retired_sid.status == "retired"

    call_command("twilio_numbers_sync", business=business.pk)
    assert "0 added, 2 already in the pool" in capsys.readouterr().out


def test_twilio_numbers_sync_says_when_twilio_cannot_be_asked(business, settings):
    from django.core.management.base import CommandError

    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="Twilio could not list the numbers"):
        call_command("twilio_numbers_sync", business=business.pk)


# --- the admin, scoped like every business admin


def test_a_manager_sees_and_manages_only_their_business_s_numbers(member_client, business, rival):
    pool(business, NEW_YORK)
    pool(rival, LOS_ANGELES)
    client = member_client((business, Role.MANAGER))

    listing = client.get("/admin/calls/callernumber/").content.decode()
    assert NEW_YORK in listing and LOS_ANGELES not in listing
    theirs = CallerNumber.objects.get(number=LOS_ANGELES)
    assert client.get(f"/admin/calls/callernumber/{theirs.pk}/change/").status_code in (302, 403)

    refused = client.post(
        "/admin/calls/callernumber/add/",
        {"business": rival.pk, "number": "+13105550199", "status": "active", "daily_cap": 10},
    )
    assert refused.status_code == 200  # the form refuses a business outside theirs
    assert not CallerNumber.objects.filter(number="+13105550199").exists()


def test_a_viewer_cannot_add_numbers(member_client, business):
    client = member_client((business, Role.VIEWER))
    response = client.post(
        "/admin/calls/callernumber/add/",
        {"business": business.pk, "number": NEW_YORK, "status": "active", "daily_cap": 10},
    )
    assert response.status_code == 403
    assert not CallerNumber.objects.exists()


def test_business_day_follows_the_business_s_zone(business):
    business.time_zone = "America/Los_Angeles"
    at = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)  # 23:30 on Feb 28 in Los Angeles
    day, reset = business_day(business, at)
    assert day.isoformat() == "2026-02-28"
    assert reset == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
