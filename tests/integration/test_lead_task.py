import inspect
from datetime import timedelta

from django.utils import timezone

from calls import tasks
from calls.models import CallLog
from leads.models import Lead
from tests import recipes

SID = recipes.sid("c")


def make_call(business, direction="inbound", number="+14155550199", **fields):
    fields = {"call_sid": SID, "status": "completed", **fields}
    return recipes.make_call(business, direction=direction, number=number, **fields)


def test_the_lead_task_takes_only_the_call_sid():
    assert list(inspect.signature(tasks.create_lead_from_call).parameters) == ["call_sid"]


def test_it_makes_one_lead_linked_to_the_call(business):
    call = make_call(business)
    tasks.create_lead_from_call(SID)
    lead = Lead.objects.get()
    call.refresh_from_db()
    assert call.lead == lead
    assert (lead.business, lead.phone_number, lead.source) == (
        business,
        "+14155550199",
        "inbound_call",
    )
    assert lead.last_call_at == call.created_at
    assert lead.last_call_direction == "inbound"


def test_two_runs_make_one_lead_and_change_nothing_the_second_time(business):
    make_call(business)
    tasks.create_lead_from_call(SID)
    lead = Lead.objects.get()
    tasks.create_lead_from_call(SID)
    again = Lead.objects.get()
    assert (again.pk, again.updated_at, again.last_call_at) == (
        lead.pk,
        lead.updated_at,
        lead.last_call_at,
    )


def test_a_run_after_a_crash_half_way_makes_one_lead(business):
    call = make_call(business)
    # The crashed run had created the lead but not linked the call.
    existing = Lead.objects.create(business=business, phone_number="+14155550199", source="manual")
    tasks.create_lead_from_call(SID)
    call.refresh_from_db()
    assert Lead.objects.count() == 1
    assert call.lead == existing
    existing.refresh_from_db()
    assert existing.source == "manual"
    assert existing.last_call_at == call.created_at


def test_an_outbound_call_makes_a_lead_for_the_number_called(business):
    make_call(business, direction="outbound", number="+14155550123")
    tasks.create_lead_from_call(SID)
    lead = Lead.objects.get()
    assert (lead.phone_number, lead.source) == ("+14155550123", "outbound_call")


def test_an_older_call_does_not_move_last_call_at_back(business):
    lead = Lead.objects.create(business=business, phone_number="+14155550199")
    recent = timezone.now()
    Lead.objects.filter(pk=lead.pk).update(last_call_at=recent)
    call = make_call(business)
    CallLog.objects.filter(pk=call.pk).update(created_at=recent - timedelta(days=1))
    tasks.create_lead_from_call(SID)
    lead.refresh_from_db()
    assert lead.last_call_at == recent


def test_an_unknown_sid_raises_nothing_and_makes_nothing(db, caplog):
    assert tasks.create_lead_from_call("CA" + "f" * 32) is None
    assert not Lead.objects.exists()
    assert "No call with SID" in caplog.text


def test_an_anonymous_caller_makes_no_lead(business):
    make_call(business, number="anonymous")
    tasks.create_lead_from_call(SID)
    assert not Lead.objects.exists()
