"""What calls cost, as real processes (gunicorn, a qcluster, the local Twilio) on PostgreSQL: the
cleanup queues a price fetch, a worker asks the local Twilio, and the campaign's figures sum it."""

import time

import pytest

from calls.dashboard import campaign_results
from calls.models import Business, CallLog, Campaign
from tests.e2e.queue_checks import ALL_DAY, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The simulator's rules: a number ending 0002 is busy, others are answered.
PERSON, BUSY = "+14155590101", "+14155590002"


def test_the_cleanup_has_each_ended_call_priced_and_the_campaign_sums_it(stack_for):
    stack = stack_for("orm", schedule=False, env={"PRICE_AFTER_SECONDS": "0"})
    stack.sim.configure(price_delay_seconds=0.5, price_per_minute=0.013)
    business = Business.objects.create(
        **ALL_DAY, name="Acme", phone_number="+14155550190", max_concurrent_calls=2
    )
    campaign = Campaign.objects.create(business=business, name="spring", say_text="Spring sale!")
    out = stack.manage(
        "enqueue_calls", "--business", str(business.pk), "--campaign", "spring", PERSON, BUSY
    )
    assert out.strip().endswith("2 queued, 0 refused.")
    wait_for(
        lambda: CallLog.objects.filter(ended_at__isnull=False, call_sid__isnull=False).count() == 2,
        60,
        "both calls ended",
    )
    assert campaign_results(campaign).priced == 0
    time.sleep(1.0)  # past the simulator's price_delay_seconds

    stack.queue_task("calls.tasks.cleanup_orphaned_calls")  # as the schedule does
    calls = wait_for(
        lambda: (c := list(CallLog.objects.filter(price__isnull=False))) and len(c) == 2 and c,
        30,
        "both calls priced",
    )

    prices = {c.to_number: (str(c.price), c.price_unit, c.price_checks) for c in calls}
    assert prices == {PERSON: ("0.01300", "USD", 1), BUSY: ("0.00000", "USD", 1)}
    kpis = campaign_results(campaign)
    assert (kpis.cost_text, kpis.priced, kpis.priceable) == ("0.013 USD", 2, 2)
