"""Caller numbers' health: quarantined from their own calls' figures, returned after cooling,
restored by a manager, each move recorded; `manage.py number_health` prints what it judged."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from calls.models import CallerNumber, OperatorAction
from calls.services.caller_numbers import caller_number_take
from calls.services.cleanup import cleanup_run
from calls.services.number_health import numbers_health_run
from calls.tenancy import Role
from tests.recipes import make_ended_calls

FLAGGED, GOOD, BETTER = "+12125550101", "+13105550188", "+15125550100"
CALLEE = "+13055550123"  # Florida: no number is local, none shares its exchange


@pytest.fixture
def numbers(business):
    return {
        n: CallerNumber.objects.create(business=business, number=n) for n in (FLAGGED, GOOD, BETTER)
    }


@pytest.fixture
def flagged_pool(business, numbers):
    """Two numbers answering half their calls, one answering 2 of 60 (3 %)."""
    make_ended_calls(business, GOOD, answered=30, unanswered=30)
    make_ended_calls(business, BETTER, answered=32, unanswered=28)
    make_ended_calls(business, FLAGGED, answered=2, unanswered=58)
    return numbers


def status(number: str) -> str:
    return CallerNumber.objects.get(number=number).status


def test_a_number_answering_3_percent_against_a_pool_at_50_is_quarantined_then_not_chosen(
    business, flagged_pool, capsys
):
    call_command("number_health", business=business.pk)

    flagged = CallerNumber.objects.get(number=FLAGGED)
    assert flagged.status == "quarantined"
    assert flagged.quarantined_at is not None
    assert "Answer rate 3% over 60 calls, under 0.5 of the pool's median 50%" in (
        flagged.quarantine_reason
    )
    assert (status(GOOD), status(BETTER)) == ("active", "active")
    out = capsys.readouterr().out
    assert "pool median answer rate 50%" in out
    assert f"{FLAGGED} today 0/100 · 60 calls · answered 3%" in out
    assert "quarantined now: Answer rate 3%" in out
    assert f"{GOOD} today 0/100 · 60 calls · answered 50%" in out and "· healthy" in out
    taken = {caller_number_take(business=business, to_number=CALLEE) for _ in range(20)}
    assert taken == {GOOD, BETTER}


def test_a_quarantine_is_recorded_in_the_action_log(business, flagged_pool):
    numbers_health_run(business_id=business.pk)

    (record,) = OperatorAction.objects.all()
    flagged = CallerNumber.objects.get(number=FLAGGED)
    assert (record.business, record.username, record.user) == (business, "number health", None)
    assert (record.action, record.target) == ("number_quarantine", "calls.callernumber")
    assert list(record.targets.values_list("object_id", flat=True)) == [flagged.pk]
    assert record.summary.startswith(f"{FLAGGED} quarantined: Answer rate 3%")


def test_running_it_again_changes_nothing(business, flagged_pool):
    numbers_health_run(business_id=business.pk)
    numbers_health_run(business_id=business.pk)
    assert OperatorAction.objects.count() == 1
    assert status(FLAGGED) == "quarantined"


def test_too_few_calls_are_not_judged(business, numbers):
    make_ended_calls(business, GOOD, answered=30, unanswered=30)
    make_ended_calls(business, FLAGGED, unanswered=49)

    (health,) = numbers_health_run(business_id=business.pk)

    assert status(FLAGGED) == "active"
    verdicts = {each.number.number: each.verdict for each in health.numbers}
    assert verdicts[FLAGGED] == "healthy so far (49 of 50 calls needed to judge)"


def test_calls_older_than_the_window_do_not_count(business, numbers, settings):
    settings.NUMBER_HEALTH_DAYS = 7
    make_ended_calls(business, GOOD, answered=30, unanswered=30)
    make_ended_calls(business, FLAGGED, unanswered=60, ago=timedelta(days=8))
    numbers_health_run(business_id=business.pk)
    assert status(FLAGGED) == "active"


def test_carrier_rejections_over_the_threshold_quarantine_a_number(business, numbers, settings):
    settings.NUMBER_MAX_REJECTED_SHARE = 0.2
    make_ended_calls(business, GOOD, answered=30, unanswered=30)
    # Answered as often as the pool when it gets through, but a quarter of its calls rejected.
    make_ended_calls(business, FLAGGED, answered=30, unanswered=15, rejected=15)

    numbers_health_run(business_id=business.pk)

    flagged = CallerNumber.objects.get(number=FLAGGED)
    assert flagged.status == "quarantined"
    assert "25% of its calls rejected by the carrier (SIP 603/608), over 20%" in (
        flagged.quarantine_reason
    )


def test_answered_calls_cut_off_under_6_seconds_quarantine_a_number(business, numbers):
    make_ended_calls(business, GOOD, answered=30, unanswered=30)
    make_ended_calls(business, FLAGGED, answered=30, unanswered=30, duration=3)

    numbers_health_run(business_id=business.pk)

    flagged = CallerNumber.objects.get(number=FLAGGED)
    assert flagged.status == "quarantined"
    assert "100% of its answered calls under 6 s, over 50%" in flagged.quarantine_reason


def test_a_quarantined_number_returns_after_the_cooling_period(business, flagged_pool, settings):
    settings.NUMBER_QUARANTINE_HOURS = 72
    numbers_health_run(business_id=business.pk)
    CallerNumber.objects.filter(number=FLAGGED).update(
        quarantined_at=timezone.now() - timedelta(hours=73)
    )

    (health,) = numbers_health_run(business_id=business.pk)

    flagged = CallerNumber.objects.get(number=FLAGGED)
    assert (flagged.status, flagged.quarantine_reason) == ("active", "")
    assert flagged.quarantined_at is None
    assert flagged.health_since is not None
    verdicts = {each.number.number: each.verdict for each in health.numbers}
    assert verdicts[FLAGGED] == "returned after cooling down"
    restore = OperatorAction.objects.get(action="number_restore")
    assert restore.summary == f"{FLAGGED} returned to the pool (cooled down)."
    # Judged afresh: its calls before the return no longer count against it.
    numbers_health_run(business_id=business.pk)
    assert status(FLAGGED) == "active"


def test_a_number_still_cooling_stays_quarantined(business, flagged_pool):
    numbers_health_run(business_id=business.pk)
    CallerNumber.objects.filter(number=FLAGGED).update(
        quarantined_at=timezone.now() - timedelta(hours=71)
    )
    numbers_health_run(business_id=business.pk)
    assert status(FLAGGED) == "quarantined"


def test_a_manager_restores_a_quarantined_number_and_it_is_recorded(
    member_client, business, flagged_pool
):
    numbers_health_run(business_id=business.pk)
    flagged = CallerNumber.objects.get(number=FLAGGED)
    client = member_client((business, Role.MANAGER))

    response = client.post(
        "/admin/calls/callernumber/",
        {"action": "restore", "_selected_action": [flagged.pk, flagged_pool[GOOD].pk]},
        follow=True,
    )

    assert "1 number restored; 1 were not quarantined." in response.content.decode()
    flagged.refresh_from_db()
    assert (flagged.status, flagged.quarantine_reason) == ("active", "")
    record = OperatorAction.objects.get(action="restore")
    assert record.username == "alice"
    assert caller_number_take(business=business, to_number=CALLEE) == FLAGGED  # least used


def test_an_operator_cannot_restore(member_client, business, flagged_pool):
    numbers_health_run(business_id=business.pk)
    flagged = CallerNumber.objects.get(number=FLAGGED)
    client = member_client((business, Role.OPERATOR))
    client.post(
        "/admin/calls/callernumber/", {"action": "restore", "_selected_action": [flagged.pk]}
    )
    assert status(FLAGGED) == "quarantined"


def test_the_cleanup_judges_the_numbers_at_most_every_period(business, numbers, settings):
    settings.NUMBER_HEALTH_EVERY_SECONDS = 600
    make_ended_calls(business, GOOD, answered=30, unanswered=30)
    make_ended_calls(business, BETTER, answered=30, unanswered=30)

    assert cleanup_run().quarantined == 0
    make_ended_calls(business, FLAGGED, answered=1, unanswered=59)
    assert cleanup_run().quarantined == 0  # within the period: not judged again yet
    assert status(FLAGGED) == "active"

    settings.NUMBER_HEALTH_EVERY_SECONDS = 0
    from calls.models import Lease

    Lease.objects.filter(name="number-health").update(held_until=timezone.now())
    assert cleanup_run().quarantined == 1
    assert status(FLAGGED) == "quarantined"


def test_number_health_without_pools_says_so(db, capsys):
    call_command("number_health")
    assert "No business has caller numbers." in capsys.readouterr().out
