"""Opt-out by keypress over real processes: the local Twilio fetches the answer, presses 9 at its
<Gather> for a number whose outcome says so, and the service lists the number."""

import pytest

from calls.models import CallLog, Campaign, DoNotCall
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call
from tests.e2e.queue_checks import make_business, wait_until_settled

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPTING_OUT = "+14155550007"  # the local Twilio's rule: ...0007 presses 9
LISTENING = "+14155550101"


def test_a_callee_who_presses_9_is_listed_and_never_queued_again(stack_for):
    stack = stack_for("orm")
    business = make_business("North", "+14155550110", 2)
    campaign = Campaign.objects.create(
        business=business, name="spring", say_text="Spring sale!", offers_opt_out=True
    )
    for number in (OPTING_OUT, LISTENING):
        enqueue_outbound_call(business=business, to_number=number, campaign=campaign)
    stack.manage("enqueue_calls", "--business", str(business.pk), "+14155550102")

    assert wait_until_settled(3, timeout=60) == {"done": 3}
    opted = CallLog.objects.get(to_number=OPTING_OUT)
    row = DoNotCall.objects.get()
    assert (row.business_id, row.phone_number, row.source_call_id) == (
        business.pk,
        OPTING_OUT,
        opted.pk,
    )
    assert row.reason == f"opted out by keypress during call {opted.call_sid}"
    assert opted.digits == "9"
    assert CallLog.objects.get(to_number=LISTENING).digits == ""
    records = {c["to"]: c for c in stack.sim.calls()}
    gathers = [e for e in records[OPTING_OUT]["timeline"] if e["event"] == "gather"]
    assert [(e["digits"], e["response_code"]) for e in gathers] == [("9", 200)]
    assert not any(e["event"] == "gather" for e in records[LISTENING]["timeline"])

    with pytest.raises(EnqueueRefused) as caught:
        enqueue_outbound_call(business=business, to_number=OPTING_OUT)
    assert caught.value.code == EnqueueRefused.DO_NOT_CALL
    assert len(records) == 3
