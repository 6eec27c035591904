"""Erasing a person's number from one business: no trace left in its rows, the erasure recorded
(without the number), other businesses untouched."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.management import CommandError, call_command

from calls.audit import NumberErasure, OperatorAction
from calls.models import CallEvent, CallLog, CallRequest
from calls.services.erasure import number_hash
from leads.models import Lead
from tests.recipes import make_call, make_request, sid

NUMBER = "+14155550177"


def trail(business, number, n):
    """A person's whole trail in one business: lead, requests, calls both ways, events, history."""
    lead = Lead.objects.create(business=business, phone_number=number, name="")
    done = make_request(business, number=number, status="failed", lead=lead)
    CallRequest.objects.filter(pk=done.pk).update(last_error=f"21211 Invalid 'To': {number}")
    queued = make_request(business, number=number, status="queued")
    out = make_call(business, number=number, call_sid=sid(n), status="failed", request=done)
    CallLog.objects.filter(pk=out.pk).update(error_message=f"Invalid 'To' Phone Number: {number}")
    inbound = make_call(business, direction="inbound", number=number, call_sid=sid(n + 1))
    CallLog.objects.filter(pk=inbound.pk).update(status="completed", lead=lead)
    for call in (out, inbound):
        CallEvent.objects.create(
            call=call, status="completed", applied=True, params={"To": number, "Called": number}
        )
    return {"lead": lead, "queued": queued, "out": out, "inbound": inbound}


class Out:
    text = ""

    def write(self, text):
        self.text += text


def everything_of(business) -> str:
    """Every stored value of every row the business owns, as one string."""
    rows = [
        *Lead.objects.filter(business=business).values(),
        *CallRequest.objects.filter(business=business).values(),
        *CallLog.objects.filter(business=business).values(),
        *CallEvent.objects.filter(call__business=business).values(),
        *OperatorAction.objects.filter(business=business).values(),
        *NumberErasure.objects.filter(business=business).values(),
        *LogEntry.objects.values(),
    ]
    return json.dumps(rows, default=str)


def test_erase_number_leaves_no_trace_and_records_the_erasure(business, rival, admin_user):
    trail(business, NUMBER, 1)
    other = trail(rival, NUMBER, 10)
    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=Lead.objects.filter(business=business), action_flag=CHANGE
    )
    assert NUMBER in everything_of(business)
    out = Out()
    call_command("erase_number", NUMBER, "--business", str(business.pk), stdout=out)
    assert "1 lead(s) deleted" in out.text and "2 call(s)" in out.text
    stored = everything_of(business)
    assert NUMBER not in stored
    assert NUMBER[1:] not in stored
    erasure = NumberErasure.objects.get()
    assert (erasure.business, erasure.via, erasure.leads, erasure.calls, erasure.requests) == (
        business,
        "command",
        1,
        2,
        2,
    )
    assert erasure.events == 2
    assert erasure.number_hash == number_hash(NUMBER)
    assert CallRequest.objects.filter(business=business, status="queued").count() == 0
    # The other business keeps its own trail of the same number.
    other["out"].refresh_from_db()
    assert other["out"].to_number == NUMBER
    assert Lead.objects.filter(business=rival, phone_number=NUMBER).exists()
    assert CallEvent.objects.filter(call=other["out"], params__isnull=False).exists()


def test_erase_number_refuses_while_a_call_to_it_is_live(business):
    make_call(business, number=NUMBER, call_sid=sid(3), status="in-progress")
    Lead.objects.create(business=business, phone_number=NUMBER)
    with pytest.raises(CommandError, match="live"):
        call_command("erase_number", NUMBER, "--business", str(business.pk))
    assert Lead.objects.filter(phone_number=NUMBER).exists()
    assert not NumberErasure.objects.exists()


@pytest.mark.parametrize(
    ("number", "other_business", "message"),
    [("not-a-number", False, "number"), (NUMBER, True, "no such business")],
)
def test_erase_number_refuses_a_bad_number_or_business(business, number, other_business, message):
    business_id = business.pk + 1 if other_business else business.pk
    with pytest.raises(CommandError, match=f"(?i){message}"):
        call_command("erase_number", number, "--business", str(business_id))
    assert not NumberErasure.objects.exists()


def test_a_manager_erases_from_the_admin_and_an_operator_cannot(member_client, business, client):
    trail(business, NUMBER, 1)
    lead = Lead.objects.get()
    operator = member_client((business, "operator"), username="olga")
    operator.post(
        "/admin/leads/lead/",
        {"action": "erase_numbers", "_selected_action": [lead.pk], "post": "yes"},
    )
    assert Lead.objects.filter(pk=lead.pk).exists()
    client.logout()
    manager = member_client((business, "manager"), username="maria")
    page = manager.post(
        "/admin/leads/lead/", {"action": "erase_numbers", "_selected_action": [lead.pk]}
    )
    assert "This cannot be undone" in page.content.decode()
    assert Lead.objects.filter(pk=lead.pk).exists()
    manager.post(
        "/admin/leads/lead/",
        {"action": "erase_numbers", "_selected_action": [lead.pk], "post": "yes"},
    )
    assert NUMBER not in everything_of(business)
    erasure = NumberErasure.objects.get()
    assert (erasure.via, erasure.requested_by_name) == ("admin", "maria")
    action = OperatorAction.objects.get(action="erase_numbers")
    assert action.summary == "1 number erased."
