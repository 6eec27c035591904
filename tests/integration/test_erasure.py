"""Erasing a person's number from one business: no trace left in its rows, the erasure recorded
(without the number), other businesses untouched."""

import json
import re
import traceback
import uuid

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ, Task
from django_q.monitor import save_task

from calls.audit import NumberErasure, OperatorAction
from calls.models import CallEvent, CallLog, CallRequest, DoNotCall
from calls.services.dispatch import business_dispatch
from calls.services.do_not_call import do_not_call_add
from calls.services.erasure import number_hash
from leads.models import Lead
from tests.api_client import api_for
from tests.recipes import callback, make_call, make_request, sid
from webhooks.deliveries import message_deliver
from webhooks.models import WebhookAttempt, WebhookMessage

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


# The number as the person gave it, and its digits however they are written around them.
PERSON = "+14155550188"
DIGITS = "4155550188"
SEPARATORS = re.compile(r"[\s().+\-]")


def refuse(number):
    """A task that fails as a Twilio refusal does, quoting the number."""
    raise RuntimeError(f"Unable to create record: The 'To' number {number} is not valid.")


def task_failure_save(func, *args):
    """Runs `func` and saves its failure as django-q2's worker and monitor do (the result is
    the exception's text and traceback: django_q/worker.py, monitor.save_task)."""
    try:
        func(*args)
    except Exception as error:
        result = f"{error} : {traceback.format_exc()}"
    now = timezone.now()
    task = {
        "id": uuid.uuid4().hex,
        "name": "refuse",
        "func": func,
        "args": args,
        "kwargs": {},
        "started": now,
        "stopped": now,
        "result": result,
        "success": False,
        # As a synchronous task's: the monitor then leaves the test's connection open.
        "sync": True,
    }
    save_task(task, get_broker())


def stored_values():
    """(table, text) of every value of every row of every table in the database, read from the
    database's own list of tables; django-q2's pickled and signed columns and the sessions are
    decoded, since their digits would not show as written."""
    from django.contrib.sessions.backends.db import SessionStore
    from django_q.models import OrmQ, Schedule, Task

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {quote(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        value = bytes(value).decode("latin-1")
                    yield table, str(value)
    for task in Task.objects.all():
        yield Task._meta.db_table, repr((task.args, task.kwargs, task.result))
    for queued in OrmQ.objects.all():
        yield OrmQ._meta.db_table, repr(queued.task)
    for schedule in Schedule.objects.all():
        yield Schedule._meta.db_table, repr((schedule.args, schedule.kwargs))
    for session in connection.introspection.table_names():
        if session == "django_session":
            from django.contrib.sessions.models import Session

            for row in Session.objects.all():
                yield "django_session", repr(SessionStore().decode(row.session_data))


def tables_holding(digits: str) -> set[str]:
    return {table for table, text in stored_values() if digits in SEPARATORS.sub("", text)}


@pytest.fixture
def hooked(business, receiver):
    business.webhook_url = receiver.url
    business.save()
    return business


def test_after_erase_number_only_the_do_not_call_list_holds_its_digits(
    client,
    hooked,
    admin_user,
    fake_twilio,
    twilio_post,
    receiver,
    django_capture_on_commit_callbacks,
):
    """The person's number goes everywhere the service puts one (an idempotent API POST with
    metadata, a lead, a call and its callbacks, a settled request's webhook and its attempt, the
    admin's history, an opt-out, a failed task), then `erase_number`."""
    api = api_for(client, hooked)
    headers = {"Idempotency-Key": "crm-17"}
    body = {
        "to": PERSON,
        "lead": {"name": "Ann Lee"},
        "metadata": {"phone": "(415) 555-0188", "crm": {"number": PERSON}},
    }
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/calls", body, headers=headers)
    assert first.status_code == 201
    request_id = first.json()["id"]
    business_dispatch(business_id=hooked.pk)
    call = CallLog.objects.get(request_id=request_id)
    path = f"/twilio/calls/{call.public_id}/status"
    with django_capture_on_commit_callbacks(execute=True):
        for status, sequence in (("ringing", 1), ("completed", 2)):
            params = callback(call.call_sid, status, sequence, To=PERSON, Called=PERSON)
            assert twilio_post(path, {**params, "CallDuration": "9"}).status_code == 204
    message = WebhookMessage.objects.get(request_id=request_id)
    message_deliver(message_id=message.pk)
    assert receiver.received and WebhookAttempt.objects.filter(message=message).exists()
    do_not_call_add(business_id=hooked.pk, number=PERSON, reason="asked", source_call=call)
    LogEntry.objects.log_actions(
        user_id=admin_user.pk,
        queryset=DoNotCall.objects.filter(phone_number=PERSON),
        action_flag=ADDITION,
    )
    LogEntry.objects.log_actions(
        user_id=admin_user.pk, queryset=Lead.objects.filter(business=hooked), action_flag=CHANGE
    )
    task_failure_save(refuse, PERSON)
    consent = {
        "to": PERSON,
        "kind": "express",
        "purposes": ["informational"],
        "captured_at": "2026-11-20T10:00:00Z",
        "evidence": f"Ann Lee gave {PERSON} at checkout",
        "evidence_url": f"https://shop.example.com/orders?phone={DIGITS}",
    }
    assert api.post("/consents", consent).status_code == 201
    assert Task.objects.filter(success=False).exists() and OrmQ.objects.exists()
    before = tables_holding(DIGITS)
    assert {
        "api_idempotencyrecord",
        "calls_callrequest",
        "calls_calllog",
        "calls_callevent",
        "webhooks_webhookmessage",
        "leads_lead",
        "django_admin_log",
        "django_q_task",
        "compliance_consentrecord",
    } <= before

    call_command("erase_number", PERSON, "--business", str(hooked.pk), stdout=Out())

    assert tables_holding(DIGITS) == {"calls_donotcall"}
    # The opt-out is remembered; the erased request's replay acts no more and names nobody.
    assert DoNotCall.objects.filter(business=hooked, phone_number=PERSON).exists()
    with django_capture_on_commit_callbacks(execute=True):
        replay = api.post("/calls", body, headers=headers)
    assert (replay.status_code, replay.json()["to"]) == (201, "erased")
    assert CallRequest.objects.count() == 1
    assert tables_holding(DIGITS) == {"calls_donotcall"}


def test_after_erasure_the_api_hands_the_number_back_nowhere(client, business, queue):
    """Over HTTP: the replay of an idempotent POST and the request's own page."""
    api = api_for(client, business)
    headers = {"Idempotency-Key": "crm-18"}
    body = {"to": PERSON, "metadata": {"phone": "415.555.0188", "order": 18}}
    first = api.post("/calls", body, headers=headers)
    assert first.status_code == 201 and DIGITS in SEPARATORS.sub("", first.content.decode())
    request_id = first.json()["id"]

    call_command("erase_number", PERSON, "--business", str(business.pk), stdout=Out())

    replay = api.post("/calls", body, headers=headers)
    page = api.get(f"/calls/{request_id}")
    listing = api.get("/calls")
    for answer in (replay, page, listing):
        assert answer.status_code in (200, 201)
        assert DIGITS not in SEPARATORS.sub("", answer.content.decode())
    assert (replay.status_code, replay.json()["id"]) == (201, request_id)
    assert page.json()["to"] == "erased" and page.json()["metadata"] == {}
    assert page.json()["status"] == "canceled"
    assert CallRequest.objects.count() == 1


def test_after_erasure_the_admin_shows_the_number_nowhere(client, business, member_client):
    request = make_request(business, number=PERSON, metadata={"phone": PERSON}, status="done")
    call_command("erase_number", PERSON, "--business", str(business.pk), stdout=Out())
    manager = member_client((business, "manager"), username="maria")
    for path in (
        "/admin/calls/callrequest/",
        f"/admin/calls/callrequest/{request.pk}/change/",
        f"/admin/calls/callrequest/{request.pk}/history/",
    ):
        page = manager.get(path)
        assert page.status_code == 200
        assert DIGITS not in SEPARATORS.sub("", page.content.decode())
