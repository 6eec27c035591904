"""What one claim takes: a night's backlog at the head of the queue, or a campaign at its own
concurrency, never keeps the callable requests behind it waiting for another dispatch."""

from datetime import UTC, datetime, timedelta

from calls import tasks
from calls.models import CallLog, CallRequest, Campaign
from calls.services import dispatch as dispatching

# A Wednesday 13:30 UTC: 08:30 in New York (inside 08-21), 05:30 in Los Angeles (outside).
MORNING = datetime(2026, 1, 14, 13, 30, tzinfo=UTC)
LOS_ANGELES = [f"+1213555{n:04d}" for n in range(1000)]
NEW_YORK = [f"+1212555{n:04d}" for n in range(10)]


def queue_numbers(business, numbers, *, at, campaign=None):
    CallRequest.objects.bulk_create(
        CallRequest(business=business, campaign=campaign, to_number=n, next_attempt_at=at)
        for n in numbers
    )


def test_a_night_backlog_ahead_of_callable_requests_is_held_by_the_dispatch_that_dials_them(
    business, fake_twilio, window_clock
):
    """Scenario 7: each dispatch held 200, placed nothing and did not queue itself again."""
    business.max_concurrent_calls = 10
    business.save()
    window_clock.set(MORNING)
    queue_numbers(business, LOS_ANGELES, at=MORNING - timedelta(hours=2))
    queue_numbers(business, NEW_YORK, at=MORNING - timedelta(hours=1))

    tasks.dispatch(business.pk)

    assert sorted(c["to"] for c in fake_twilio.created) == NEW_YORK
    held = CallRequest.objects.filter(to_number__in=LOS_ANGELES)
    assert held.filter(status="queued", window_holds=1).count() == 1000
    # 08:00 in Los Angeles is 16:00 UTC.
    assert set(held.values_list("next_attempt_at", flat=True)) == {
        datetime(2026, 1, 14, 16, 0, tzinfo=UTC)
    }
    assert held.filter(attempts=0).count() == 1000


def judged_pages(monkeypatch) -> list[int]:
    """The size of each page of due requests the claim judges, as it judges them."""
    pages = []
    judge = dispatching.requests_hold_by_rules

    def counted(business, page, now):
        pages.append(len(page))
        return judge(business, page, now)

    monkeypatch.setattr(dispatching, "requests_hold_by_rules", counted)
    return pages


def test_refilling_one_slot_judges_a_few_requests_not_a_page_of_the_queue(
    business, fake_twilio, monkeypatch
):
    """Every request read is judged (rules, pool, do-not-call, consent): the refill of one
    slot in a queue of 600 read and judged 500 to dial one."""
    business.max_concurrent_calls = 1
    business.save()
    queue_numbers(business, LOS_ANGELES[:600], at=datetime.now(UTC) - timedelta(hours=1))
    pages = judged_pages(monkeypatch)

    tasks.dispatch(business.pk)

    assert [c["to"] for c in fake_twilio.created] == [LOS_ANGELES[0]]
    assert pages == [dispatching.CLAIM_FIRST_PAGE_PER_SLOT]


def test_a_backlog_is_read_in_pages_that_double(business, fake_twilio, window_clock, monkeypatch):
    """The night's backlog of scenario 7 behind small first pages: still held in one claim."""
    business.max_concurrent_calls = 10
    business.save()
    window_clock.set(MORNING)
    queue_numbers(business, LOS_ANGELES, at=MORNING - timedelta(hours=2))
    queue_numbers(business, NEW_YORK, at=MORNING - timedelta(hours=1))
    pages = judged_pages(monkeypatch)

    tasks.dispatch(business.pk)

    assert sorted(c["to"] for c in fake_twilio.created) == NEW_YORK
    first = 10 * dispatching.CLAIM_FIRST_PAGE_PER_SLOT  # 80, then 160, 320, and the 450 left
    assert pages == [first, 2 * first, 4 * first, 1010 - 7 * first]


def test_a_campaign_at_its_concurrency_at_the_head_leaves_the_other_slots_to_the_rest(
    business, fake_twilio
):
    """Scenario 12: a campaign with concurrency 1 at the head left nine free slots idle."""
    business.max_concurrent_calls = 10
    business.save()
    narrow = Campaign.objects.create(business=business, name="narrow", concurrency=1)
    wide = Campaign.objects.create(business=business, name="wide")
    now = datetime.now(UTC)
    queue_numbers(business, LOS_ANGELES[:100], at=now - timedelta(hours=1), campaign=narrow)
    queue_numbers(business, NEW_YORK, at=now - timedelta(minutes=1), campaign=wide)

    tasks.dispatch(business.pk)

    dialed = [c["to"] for c in fake_twilio.created]
    assert len(dialed) == 10
    assert dialed[0] == LOS_ANGELES[0]
    assert sorted(dialed[1:]) == NEW_YORK[:9]
    assert CallLog.objects.filter(request__campaign=narrow).count() == 1
