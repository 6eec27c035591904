"""Do-not-call lists: refused at queuing, canceled at claim (never dialed), imported and exported
as CSV, and kept when the number is erased."""

import json
from datetime import timedelta
from importlib import import_module

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone
from model_bakery import baker

from calls import tasks
from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from calls.services.do_not_call import (
    DO_NOT_CALL_PREFIX,
    ImportRefused,
    do_not_call_add,
    do_not_call_import,
    do_not_call_listed,
    do_not_call_rows,
)
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call, enqueue_outbound_calls
from calls.services.erasure import number_erase
from calls.services.retention import calls_prune
from tests.api_client import api_for
from tests.recipes import NUMBER, make_call, make_request, sid
from webhooks.models import WebhookMessage

OTHER = "+14155550124"


@pytest.mark.parametrize("global_row", [False, True])
def test_queuing_a_listed_number_is_refused_with_the_reason_and_code(
    business, queue, global_row, django_capture_on_commit_callbacks
):
    do_not_call_add(
        business_id=None if global_row else business.pk, number="(415) 555-0123", reason="asked"
    )
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(EnqueueRefused) as caught:
        enqueue_outbound_call(business=business, to_number="4155550123")
    assert caught.value.code == EnqueueRefused.DO_NOT_CALL == "do-not-call"
    # The list of every business is the superusers': its reason is not the business's to read.
    told = "of every business." if global_row else "of this business: asked"
    assert str(caught.value) == f"{NUMBER} is on the do-not-call list {told}"
    assert not CallRequest.objects.exists()
    assert queue() == []


def test_another_business_list_does_not_refuse_the_number(business, rival, queue):
    do_not_call_add(business_id=rival.pk, number=NUMBER, reason="asked the rival")
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    assert request.status == "queued"


def test_the_bulk_enqueue_refuses_listed_rows_and_queues_the_rest(business):
    campaign = baker.make(Campaign, business=business, name="spring")
    do_not_call_add(business_id=business.pk, number=NUMBER, reason="")
    results = enqueue_outbound_calls(business=business, numbers=[NUMBER, OTHER], campaign=campaign)
    assert results[0].request is None
    assert results[0].refused == f"{NUMBER} is on the do-not-call list of this business: " + (
        "no reason given"
    )
    assert results[1].request.to_number == OTHER
    assert list(CallRequest.objects.values_list("to_number", flat=True)) == [OTHER]


def test_a_number_listed_after_it_was_queued_is_never_dialed(business, fake_twilio):
    campaign = baker.make(Campaign, business=business, name="spring")
    listed = enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    kept = enqueue_outbound_call(business=business, to_number=OTHER, campaign=campaign)
    do_not_call_add(business_id=business.pk, number=NUMBER, reason="called the office")
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [OTHER]
    listed.refresh_from_db()
    assert (listed.status, listed.attempts) == ("canceled", 0)
    assert listed.last_error == "On the do-not-call list: called the office"
    assert listed.last_error.startswith(DO_NOT_CALL_PREFIX)
    assert not CallLog.objects.filter(to_number=NUMBER).exists()
    kept.refresh_from_db()
    assert kept.status == "active"
    # The campaign counts it as blocked by the list.
    assert campaign.requests.filter(last_error__startswith=DO_NOT_CALL_PREFIX).count() == 1


def test_a_globally_listed_number_is_canceled_at_claim_with_its_scope(business, fake_twilio):
    request = make_request(business)
    DoNotCall.objects.create(business=None, phone_number=NUMBER, reason="national list")
    tasks.dispatch(business.pk)
    assert fake_twilio.created == []
    request.refresh_from_db()
    assert request.status == "canceled"
    assert request.last_error == "On the do-not-call list of every business."
    assert not CallLog.objects.exists()


def test_a_listed_retry_is_canceled_and_its_old_calls_stay(business, fake_twilio):
    request = make_request(business, attempts=1)
    do_not_call_add(business_id=business.pk, number=NUMBER, reason="no")
    tasks.dispatch(business.pk)
    request.refresh_from_db()
    assert (request.status, request.attempts) == ("canceled", 1)
    assert fake_twilio.created == []


def test_the_lookup_asks_once_for_a_batch_and_prefers_the_business_row(
    business, rival, django_assert_num_queries
):
    do_not_call_add(business_id=None, number=NUMBER, reason="global")
    do_not_call_add(business_id=business.pk, number=NUMBER, reason="ours")
    do_not_call_add(business_id=rival.pk, number=OTHER, reason="theirs")
    numbers = [NUMBER, OTHER] + [f"+1415555{n:04d}" for n in range(2000, 2100)]
    with django_assert_num_queries(1):
        listed = do_not_call_listed(business_id=business.pk, numbers=numbers)
    assert {n: row.reason for n, row in listed.items()} == {NUMBER: "ours"}


def test_adding_is_idempotent_and_normalises(business):
    row, created = do_not_call_add(business_id=business.pk, number="(415) 555-0123", reason="a")
    again, created_again = do_not_call_add(business_id=business.pk, number=NUMBER, reason="b")
    assert (created, created_again, again.pk, again.reason) == (True, False, row.pk, "a")
    assert row.phone_number == NUMBER
    with pytest.raises(ValidationError):
        do_not_call_add(business_id=business.pk, number="not a number")
    assert DoNotCall.objects.count() == 1


def test_the_database_holds_one_row_per_number_per_business_and_one_global(business):
    DoNotCall.objects.create(business=None, phone_number=NUMBER)
    DoNotCall.objects.create(business=business, phone_number=NUMBER)
    for owner in (None, business):
        with pytest.raises(IntegrityError), transaction.atomic():
            DoNotCall.objects.create(business=owner, phone_number=NUMBER)
    assert DoNotCall.objects.count() == 2


def test_erasing_the_number_keeps_its_opt_out(business):
    make_request(business, status="done")
    do_not_call_add(business_id=business.pk, number=NUMBER, reason="opted out")
    number_erase(business_id=business.pk, number=NUMBER, via="command")
    assert not CallRequest.objects.filter(to_number=NUMBER).exists()
    assert DoNotCall.objects.get().phone_number == NUMBER
    with pytest.raises(EnqueueRefused):
        enqueue_outbound_call(business=business, to_number=NUMBER)


CSV = (
    "number,reason\n"
    "(415) 555-0123,asked by phone\n"
    "not-a-number,typo\n"
    "\n"
    "+14155550124,\n"
    "4155550123,listed twice\n"
    "+14155550125," + "x" * 501 + "\n"
)


def test_an_import_adds_good_rows_and_reports_each_bad_one(business):
    do_not_call_add(business_id=business.pk, number=OTHER, reason="older")
    result = do_not_call_import(business_id=business.pk, rows=do_not_call_rows(CSV.encode()))
    assert [(r.line, r.outcome) for r in result.rows] == [
        (2, "added"),
        (3, "'not-a-number' is not a phone number: The string supplied did not seem to be a "
         "phone number."),
        (5, "already listed"),
        (6, "already listed"),
        (7, "The reason is longer than 500 characters."),
    ]  # fmt: skip
    assert result.summary() == "1 added, 2 already listed, 2 refused."
    rows = dict(DoNotCall.objects.values_list("phone_number", "reason"))
    assert rows == {NUMBER: "asked by phone", OTHER: "older"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe+1415", "not UTF-8"),
        (("+14155550123\n" * 50_001).encode(), "More than 50000 rows"),
    ],
)
def test_an_unreadable_file_is_refused_whole(content, message):
    with pytest.raises(ImportRefused, match=message):
        do_not_call_rows(content)


def test_the_commands_round_trip_a_list(business, rival, tmp_path, capsys):
    file = tmp_path / "list.csv"
    file.write_text(CSV)
    call_command("import_do_not_call", str(file), "--business", str(business.pk))
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("line 3: not-a-number: refused: 'not-a-number' is not a phone")
    assert out[1] == "line 7: +14155550125: refused: The reason is longer than 500 characters."
    assert out[-1] == "2 added, 1 already listed, 2 refused."
    DoNotCall.objects.create(business=None, phone_number="+14155550199", reason="=global")

    call_command("export_do_not_call", "--business", str(business.pk))
    exported = capsys.readouterr().out
    lines = exported.splitlines()
    assert lines[0] == "number,reason,business,created_at,source_call"
    assert [line.split(",")[:3] for line in lines[1:]] == [
        [NUMBER, "asked by phone", str(business.pk)],
        [OTHER, "", str(business.pk)],
    ]
    again = tmp_path / "again.csv"
    again.write_text(exported)
    call_command("import_do_not_call", str(again), "--business", str(rival.pk))
    assert capsys.readouterr().out.strip() == "2 added, 0 already listed, 0 refused."
    assert dict(rival.do_not_call.values_list("phone_number", "reason")) == {
        NUMBER: "asked by phone",
        OTHER: "",
    }

    call_command("export_do_not_call")
    everything = capsys.readouterr().out.splitlines()
    assert len(everything) == 1 + 5
    assert "+14155550199,=global,," in everything[1]  # the global row first (no business)
    call_command("import_do_not_call", str(again))
    assert capsys.readouterr().out.strip() == "2 added, 0 already listed, 0 refused."
    assert DoNotCall.objects.filter(business=None).count() == 3


def test_a_huge_number_cell_is_refused_without_being_shown_whole(business):
    (row,) = do_not_call_import(
        business_id=business.pk, rows=do_not_call_rows(("+1415" + "5" * 100_000).encode())
    ).rows
    assert row.outcome == "Not a phone number: longer than 64 characters."
    assert len(row.number) == 65
    assert not DoNotCall.objects.exists()


def test_control_characters_in_a_reason_become_spaces(business):
    rows = do_not_call_rows(b"+14155550123,asked\x00\tby\x07 phone\n+1415\x00555,x")
    result = do_not_call_import(business_id=business.pk, rows=rows)
    assert [r.outcome for r in result.rows][0] == "added"
    assert "not a phone number" in result.rows[1].outcome
    assert DoNotCall.objects.get().reason == "asked  by  phone"


def test_the_commands_refuse_an_unknown_business_or_file(db, tmp_path):
    with pytest.raises(CommandError, match="No such business"):
        call_command("import_do_not_call", str(tmp_path / "x.csv"), "--business", "999")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_do_not_call", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="No such business"):
        call_command("export_do_not_call", "--business", "999")
    assert not DoNotCall.objects.exists()


def test_retention_deletes_the_opt_out_call_but_keeps_the_opt_out(business, settings):
    settings.CALL_RETENTION_DAYS = 365
    call = make_call(business, status="completed", call_sid=sid(3))
    CallLog.objects.filter(pk=call.pk).update(ended_at=timezone.now() - timedelta(days=400))
    do_not_call_add(business_id=business.pk, number=NUMBER, reason="opted out", source_call=call)
    assert calls_prune() == 1
    assert not CallLog.objects.exists()
    row = DoNotCall.objects.get()
    assert (row.phone_number, row.source_call) == (NUMBER, None)


def test_a_run_of_listed_numbers_at_the_head_of_the_queue_does_not_hold_up_the_rest(
    business, fake_twilio
):
    listed = [f"+1415555{n:04d}" for n in range(3000, 3030)]
    for number in listed:
        make_request(business, number=number, next_attempt_at=timezone.now() - timedelta(hours=1))
        do_not_call_add(business_id=business.pk, number=number, reason="no")
    make_request(business, number=OTHER)
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [OTHER]
    assert CallRequest.objects.filter(status="canceled").count() == 30
    assert CallLog.objects.get().to_number == OTHER


SECRET_REASON = "Litigator: sued Acme Plumbing, case 21-cv-0042"


def test_the_reason_of_the_list_of_every_business_reaches_no_business(
    client, business, fake_twilio, member_client, django_capture_on_commit_callbacks
):
    """Every place a do-not-call reason reaches a business: the API's 422, the campaign page's
    refused rows, a request canceled at claim (its last error, the API, its webhook)."""
    business.webhook_url = "https://hooks.example.com/calls"
    business.save()
    queued = make_request(business, number=OTHER)
    api = api_for(client, business)
    DoNotCall.objects.create(business=None, phone_number=NUMBER, reason=SECRET_REASON)
    DoNotCall.objects.create(business=None, phone_number=OTHER, reason=SECRET_REASON)

    refused = api.post("/calls", {"to": NUMBER})
    assert refused.status_code == 422 and refused.json()["code"] == "do-not-call"
    with django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch(business.pk)
    queued.refresh_from_db()
    assert queued.status == "canceled"
    read = api.get(f"/calls/{queued.pk}")
    (message,) = WebhookMessage.objects.filter(request=queued)
    manager = member_client((business, "manager"), username="maria")
    page = manager.post(
        "/admin/calls/campaign/add/",
        {
            "business": business.pk,
            "name": "Spring",
            "purpose": "informational",
            "say_text": "Hi",
            "numbers": f"{NUMBER}\n",
        },
    )
    told = [
        refused.content.decode(),
        queued.last_error,
        read.content.decode(),
        json.dumps(message.payload),
        page.content.decode(),
    ]
    assert queued.last_error == "On the do-not-call list of every business."
    assert f"{NUMBER} is on the do-not-call list of every business." in page.content.decode()
    assert not [text for text in told if "Litigator" in text or "21-cv-0042" in text]
    assert fake_twilio.created == []


def test_the_migrations_hide_the_reasons_already_told(business):
    """Requests canceled, and their messages stored, before the reason was kept back."""
    from django.apps import apps

    leaked = f"On the do-not-call list of every business: {SECRET_REASON}"
    request = make_request(business, status="canceled", last_error=leaked)
    own = make_request(
        business, number=OTHER, status="canceled", last_error="On the do-not-call list: asked"
    )
    message = WebhookMessage.objects.create(
        business=business,
        request=request,
        type="call_request.settled",
        payload={"type": "call_request.settled", "data": {"id": request.pk, "reason": leaked}},
        retry_until=timezone.now(),
        delivered_at=timezone.now(),
    )
    for name in (
        "calls.migrations.0019_do_not_call_every_business_reasons_hidden",
        "webhooks.migrations.0002_do_not_call_every_business_reasons_hidden",
    ):
        import_module(name).reasons_hide(apps, None)
    request.refresh_from_db()
    own.refresh_from_db()
    message.refresh_from_db()
    assert request.last_error == "On the do-not-call list of every business."
    assert message.payload["data"]["reason"] == "On the do-not-call list of every business."
    assert own.last_error == "On the do-not-call list: asked"
