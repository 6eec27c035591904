"""Businesses on subaccounts, end to end: `twilio_subaccount_create` makes each at the local
Twilio, their calls go out under their own accounts, the local Twilio signs each call's callbacks
with its account's token, and the service verifies them and settles every call; each account's
calls per second and each business's cap hold at Twilio's side."""

import pytest

from calls.models import CallLog
from tests.e2e.queue_checks import (
    assert_each_call_has_twilios_outcome,
    make_business,
    wait_until_settled,
)
from twilio_accounts.models import TwilioAccount

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_calls_of_businesses_on_subaccounts_are_placed_and_settled_under_their_accounts(
    stack_for,
):
    stack = stack_for("redis")
    tenants = [make_business(f"Tenant {n}", f"+1415555017{n}", 2) for n in range(2)]
    main = make_business("Main", "+14155550190", 2)
    for tenant in tenants:
        out = stack.manage("twilio_subaccount_create", "--business", str(tenant.pk))
        assert out.strip().splitlines()[-1].startswith("AC")
    accounts = {t.pk: TwilioAccount.objects.get(businesses=t).account_sid for t in tenants}
    numbers = {
        b.pk: [f"+1415{610 + i}{n:04d}" for n in range(100, 106)]
        for i, b in enumerate([*tenants, main])
    }
    for business in [*tenants, main]:
        out = stack.manage("enqueue_calls", "--business", str(business.pk), *numbers[business.pk])
        assert out.strip().endswith("6 queued, 0 refused.")

    statuses = wait_until_settled(18, timeout=240)
    assert statuses == {"done": 18}
    records = assert_each_call_has_twilios_outcome(stack)
    by_from = {}
    for record in records.values():
        by_from.setdefault(record["from"], set()).add(record["account_sid"])
    for tenant in tenants:
        assert by_from[tenant.phone_number] == {accounts[tenant.pk]}
    assert by_from[main.phone_number] == {stack.sim.accounts()[0]["sid"]}
    stats = stack.sim.stats()
    for sid in accounts.values():
        assert stats["create_requests_by_account"][sid] == 6
        assert stats["max_creates_per_second_by_account"][sid] <= 1  # a new subaccount's rate
    for business in [*tenants, main]:
        assert stats["max_live_by_from"][business.phone_number] <= 2
    # Every callback was verified and applied: each call has its events, none refused.
    for call in CallLog.objects.all():
        assert call.status == "completed"
        assert call.events.filter(applied=True).exists()
