"""What calls cost: the cleanup queues a price fetch for ended calls Twilio has not priced, the
task keeps Twilio's price as a positive cost, a bounded number of asks, and a campaign's page sums
it by currency."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls import tasks
from calls.dashboard import campaign_results
from calls.models import CallLog, Campaign
from calls.services.cleanup import cleanup_queue_price_fetches, cleanup_run
from calls.services.prices import PRICE_CHECK_LIMIT
from tests.recipes import make_call, make_request, sid, twilio_call

FETCH = "calls.tasks.fetch_call_price"


def fetches(queue):
    """The price fetches queued (a whole cleanup run queues the lead task too)."""
    return [task for task in queue() if task[0] == FETCH]


def ended_call(business, n, *, minutes_ago=3, status="completed", **fields):
    """An outbound call Twilio placed (SID `sid(n)`) that ended `minutes_ago`."""
    ended_at = timezone.now() - timedelta(minutes=minutes_ago)
    fields.setdefault("call_sid", sid(n))
    return make_call(
        business, number=f"+141555502{n:02d}", status=status, ended_at=ended_at, **fields
    )


def test_the_task_keeps_twilio_s_price_as_a_positive_cost(business, fake_twilio, queue):
    call = ended_call(business, 1)
    fake_twilio.calls[sid(1)] = twilio_call(
        sid(1), "completed", price=Decimal("-0.01300"), price_unit="USD"
    )

    tasks.fetch_call_price(call.pk)

    call.refresh_from_db()
    assert (call.price, call.price_unit, call.price_checks) == (Decimal("0.01300"), "USD", 1)
    assert fake_twilio.fetched == [sid(1)]
    assert (call.status, call.ended_by) == ("completed", "")  # the status is not touched
    assert queue() == []


def test_no_price_yet_leaves_the_call_unpriced_and_counts_a_check(business, fake_twilio):
    call = ended_call(business, 1)
    fake_twilio.calls[sid(1)] = twilio_call(sid(1), "completed", price=None, price_unit="USD")

    tasks.fetch_call_price(call.pk)
    tasks.fetch_call_price(call.pk)

    call.refresh_from_db()
    assert (call.price, call.price_unit, call.price_checks) == (None, "", 2)
    assert fake_twilio.fetched == [sid(1), sid(1)]


def test_twilio_failing_to_answer_counts_a_check_and_raises_nothing(business, fake_twilio):
    call = ended_call(business, 1)  # not in fake_twilio.calls: a 20404

    tasks.fetch_call_price(call.pk)

    call.refresh_from_db()
    assert (call.price, call.price_checks) == (None, 1)
    assert fake_twilio.fetched == [sid(1)]


def test_a_priced_live_or_unplaced_call_is_not_asked_about(business, fake_twilio):
    priced = ended_call(business, 1, price=Decimal("0.013"), price_unit="USD")
    live = make_call(business, number="+14155550299", call_sid=sid(2), status="in-progress")
    unplaced = ended_call(business, 3, status="failed", call_sid=None)

    for call in (priced, live, unplaced):
        tasks.fetch_call_price(call.pk)
    tasks.fetch_call_price(10**9)  # deleted since it was queued

    assert fake_twilio.fetched == []
    assert [c.price_checks for c in CallLog.objects.order_by("pk")] == [0, 0, 0]


def test_a_price_already_kept_is_not_overwritten(business, fake_twilio):
    call = ended_call(business, 1)
    fake_twilio.calls[sid(1)] = twilio_call(sid(1), "completed", price=Decimal("-0.013"))
    tasks.fetch_call_price(call.pk)
    CallLog.objects.filter(pk=call.pk).update(price=Decimal("0.5"))
    fake_twilio.calls[sid(1)] = twilio_call(sid(1), "completed", price=Decimal("-9"))

    tasks.fetch_call_price(call.pk)

    call.refresh_from_db()
    assert call.price == Decimal("0.5")
    assert fake_twilio.fetched == [sid(1)]


def test_the_cleanup_queues_only_calls_that_are_due(
    business, queue, settings, django_capture_on_commit_callbacks
):
    due = ended_call(business, 1, minutes_ago=3)
    ended_call(business, 2, minutes_ago=1)  # Twilio has not had time to price it
    ended_call(business, 3, status="failed", call_sid=None)  # never placed: never priced
    ended_call(business, 4, price=Decimal("0.013"), price_unit="USD")
    ended_call(business, 5, direction="inbound")
    ended_call(business, 6, minutes_ago=60 * 25)  # ended over a day ago: given up
    ended_call(business, 7, price_checks=PRICE_CHECK_LIMIT)
    make_call(business, number="+14155550298", call_sid=sid(8), status="in-progress")

    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_queue_price_fetches() == 1

    assert queue() == [(FETCH, (due.pk,))]
    due.refresh_from_db()
    assert due.price_due_at > timezone.now()


def test_the_cleanup_does_not_queue_the_same_call_every_run(
    business, queue, django_capture_on_commit_callbacks
):
    call = ended_call(business, 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_queue_price_fetches() == 1
        assert cleanup_queue_price_fetches() == 0  # spaced: a minute at least
        result = cleanup_run()

    assert result.prices == 0
    assert fetches(queue) == [(FETCH, (call.pk,))]
    CallLog.objects.filter(pk=call.pk).update(price_due_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_run().prices == 1
    assert fetches(queue) == [(FETCH, (call.pk,))] * 2


def test_the_spacing_grows_with_each_check(business, queue, django_capture_on_commit_callbacks):
    call = ended_call(business, 1, price_checks=3)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_queue_price_fetches() == 1
    call.refresh_from_db()
    assert timedelta(minutes=8) <= call.price_due_at - before < timedelta(minutes=9)


def test_a_call_twilio_never_prices_stops_being_asked_about_after_the_limit(
    business, fake_twilio, queue, django_capture_on_commit_callbacks
):
    call = ended_call(business, 1)
    fake_twilio.calls[sid(1)] = twilio_call(sid(1), "completed", price=None)

    for _ in range(PRICE_CHECK_LIMIT):
        CallLog.objects.filter(pk=call.pk).update(price_due_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            assert cleanup_queue_price_fetches() == 1
        tasks.fetch_call_price(call.pk)
    CallLog.objects.filter(pk=call.pk).update(price_due_at=None)

    assert cleanup_queue_price_fetches() == 0
    call.refresh_from_db()
    assert (call.price, call.price_checks) == (None, PRICE_CHECK_LIMIT)
    assert len(fake_twilio.fetched) == len(queue()) == PRICE_CHECK_LIMIT


def test_the_cleanup_queues_at_most_its_batch_oldest_first(
    business, queue, settings, django_capture_on_commit_callbacks
):
    settings.PRICE_CHECKS_PER_RUN = 2
    newest = ended_call(business, 1, minutes_ago=3)
    oldest = ended_call(business, 2, minutes_ago=30)
    middle = ended_call(business, 3, minutes_ago=10)

    with django_capture_on_commit_callbacks(execute=True):
        assert cleanup_queue_price_fetches() == 2
        assert cleanup_queue_price_fetches() == 1

    assert queue() == [(FETCH, (oldest.pk,)), (FETCH, (middle.pk,)), (FETCH, (newest.pk,))]


def test_reconcile_keeps_the_price_when_twilio_s_answer_has_one(business, fake_twilio):
    call = make_call(business, number="+14155550201", call_sid=sid(1), status="in-progress")
    fake_twilio.calls[sid(1)] = twilio_call(
        sid(1), "completed", duration=61, price=Decimal("-0.02600"), price_unit="USD"
    )

    tasks.reconcile_call(call.pk)

    call.refresh_from_db()
    assert (call.status, call.ended_by) == ("completed", "reconcile")
    assert (call.price, call.price_unit, call.price_checks) == (Decimal("0.026"), "USD", 0)


@pytest.fixture
def campaign(business):
    return Campaign.objects.create(business=business, name="Spring")


def campaign_call(business, campaign, n, **fields):
    request = make_request(business, number=f"+141555503{n:02d}", campaign=campaign)
    return ended_call(business, n, request=request, **fields)


def cost_cell(client, campaign):
    body = client.get(f"/admin/calls/campaign/{campaign.pk}/change/").content.decode()
    return body.split('class="kpi-cost">')[1].split("</td>")[0]


def test_a_campaign_s_cost_sums_its_priced_calls_and_counts_those_missing(
    admin_client, business, campaign
):
    campaign_call(business, campaign, 1, price=Decimal("0.013"), price_unit="USD")
    campaign_call(business, campaign, 2, price=Decimal("0.026"), price_unit="USD")
    campaign_call(business, campaign, 3)
    campaign_call(business, campaign, 4, status="failed", call_sid=None)  # never placed
    ended_call(business, 5, price=Decimal("7"), price_unit="USD")  # not the campaign's

    kpis = campaign_results(campaign)

    assert (kpis.costs, kpis.priced, kpis.priceable) == ({"USD": Decimal("0.039")}, 2, 3)
    assert cost_cell(admin_client, campaign) == "0.039 USD (2 of 3 ended calls priced)"


def test_a_campaign_priced_in_two_currencies_shows_each(admin_client, business, campaign):
    campaign_call(business, campaign, 1, price=Decimal("0.013"), price_unit="USD")
    campaign_call(business, campaign, 2, price=Decimal("1.2"), price_unit="EUR")

    assert cost_cell(admin_client, campaign) == "1.20 EUR, 0.013 USD (2 ended calls)"


def test_a_campaign_with_nothing_priced_shows_a_dash(admin_client, business, campaign):
    assert cost_cell(admin_client, campaign) == "-"
    campaign_call(business, campaign, 1)

    assert cost_cell(admin_client, campaign) == "- (0 of 1 ended calls priced yet)"


def test_the_calls_export_carries_the_price(admin_client, business):
    ended_call(business, 1, price=Decimal("0.013"), price_unit="USD")
    response = admin_client.get("/admin/calls/calllog/export/")
    text = b"".join(response.streaming_content).decode()
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["price"], row["price_unit"]) == ("0.01300", "USD")


def test_a_price_the_column_cannot_hold_is_not_kept(business, fake_twilio):
    call = ended_call(business, 1)
    fake_twilio.calls[sid(1)] = twilio_call(sid(1), "completed", price=Decimal("-1000000"))

    tasks.fetch_call_price(call.pk)

    call.refresh_from_db()
    assert (call.price, call.price_checks) == (None, 1)
