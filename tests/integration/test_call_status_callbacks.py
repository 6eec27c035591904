"""The status callback of a call this service placed (`/twilio/calls/<public_id>/status`): on
PostgreSQL a report that moves the call without ending it is applied and recorded by one
statement; everything else, and everything on SQLite, takes the transaction. Either way the
answers, the rows and the audit trail are the same, and a request that is not the call's
account's, not signed, or not well-formed changes nothing."""

import uuid
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from calls.models import CallEvent, CallLog
from tests.recipes import callback, make_call, make_request, sid, sign
from twilio_accounts.models import TwilioAccount

SID = sid("b")
SUB_SID = "AC" + "e" * 32
SUB_TOKEN = "subaccount-token"


@pytest.fixture
def live_call(business):
    request = make_request(business, status="active", attempts=1)
    return make_call(business, request=request, call_sid=SID, status="queued")


@pytest.fixture
def sub_call(business):
    """A live call placed through a subaccount."""
    account = TwilioAccount.objects.create(account_sid=SUB_SID, auth_token=SUB_TOKEN)
    business.twilio_account = account
    business.save(update_fields=["twilio_account"])
    request = make_request(business, status="active", attempts=1)
    return make_call(business, request=request, call_sid=SID, status="ringing")


def path_of(call) -> str:
    return f"/twilio/calls/{call.public_id}/status"


def post_as(client, path, params, token=None):
    """POSTs `params` signed with `token` (the main account's when None)."""
    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(path, params, token),
    )


def events_of(call):
    return list(
        CallEvent.objects.filter(call=call).values_list("status", "sequence_number", "applied")
    )


def test_a_report_that_moves_a_live_call_is_applied_and_kept_in_its_trail(
    twilio_post, live_call, queue
):
    response = twilio_post(path_of(live_call), callback(SID, "in-progress", 2, AnsweredBy="human"))
    assert response.status_code == 204
    live_call.refresh_from_db()
    assert (live_call.status, live_call.last_sequence_number) == ("in-progress", 2)
    assert live_call.answered_by == "human"
    assert live_call.answered_at is not None
    assert live_call.ended_at is None
    event = CallEvent.objects.get(call=live_call)
    assert (event.source, event.status, event.sequence_number, event.applied) == (
        "callback",
        "in-progress",
        2,
        True,
    )
    assert event.params["AnsweredBy"] == "human"
    assert event.received_at is not None
    assert queue() == []


@pytest.mark.postgres
def test_on_postgresql_that_report_is_one_statement(twilio_post, live_call):
    with CaptureQueriesContext(connection) as queries:
        response = twilio_post(path_of(live_call), callback(SID, "ringing", 1))
    assert response.status_code == 204
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]
    assert queries.captured_queries[0]["sql"].lstrip().startswith("WITH moved AS (UPDATE")
    live_call.refresh_from_db()
    assert live_call.status == "ringing"
    assert events_of(live_call) == [("ringing", 1, True)]


def test_a_stale_report_is_kept_as_not_applied_and_still_fills_a_missing_fact(
    twilio_post, live_call
):
    CallLog.objects.filter(pk=live_call.pk).update(status="in-progress", last_sequence_number=2)
    response = twilio_post(path_of(live_call), callback(SID, "ringing", 1, SipResponseCode="180"))
    assert response.status_code == 204
    live_call.refresh_from_db()
    assert (live_call.status, live_call.last_sequence_number) == ("in-progress", 2)
    assert live_call.sip_response_code == 180
    assert events_of(live_call) == [("ringing", 1, False)]


def test_a_duplicate_report_is_kept_once_applied_and_once_not(twilio_post, live_call):
    params = callback(SID, "ringing", 1)
    assert twilio_post(path_of(live_call), params).status_code == 204
    assert twilio_post(path_of(live_call), params).status_code == 204
    live_call.refresh_from_db()
    assert live_call.status == "ringing"
    assert events_of(live_call) == [("ringing", 1, True), ("ringing", 1, False)]


def test_a_report_before_the_sid_is_stored_stores_it_and_applies(twilio_post, business):
    request = make_request(business, status="active", attempts=1)
    call = make_call(business, request=request, status="pending")
    response = twilio_post(path_of(call), callback(SID, "initiated", 0))
    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.call_sid, call.status) == (SID, "initiated")
    assert events_of(call) == [("initiated", 0, True)]


def test_a_report_carrying_another_sid_changes_nothing_but_is_kept(twilio_post, live_call):
    response = twilio_post(path_of(live_call), callback(sid("c"), "ringing", 1))
    assert response.status_code == 204
    live_call.refresh_from_db()
    assert (live_call.call_sid, live_call.status) == (SID, "queued")
    assert events_of(live_call) == [("ringing", 1, False)]


def test_an_end_settles_the_request_and_queues_the_refill(
    twilio_post, live_call, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(path_of(live_call), callback(SID, "completed", 3, CallDuration="6"))
    assert response.status_code == 204
    live_call.refresh_from_db()
    live_call.request.refresh_from_db()
    assert (live_call.status, live_call.duration_seconds) == ("completed", 6)
    assert live_call.request.status == "done"
    assert events_of(live_call) == [("completed", 3, True)]
    assert queue() == [
        ("calls.tasks.dispatch", (live_call.business_id,)),
        ("leads.tasks.create_lead_from_call", (SID,)),
    ]


def test_a_callback_for_no_such_call_is_404_and_records_nothing(twilio_post, live_call):
    path = f"/twilio/calls/{uuid.uuid4()}/status"
    assert twilio_post(path, callback(SID, "ringing", 1)).status_code == 404
    live_call.refresh_from_db()
    assert live_call.status == "queued"
    assert not CallEvent.objects.exists()


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
@pytest.mark.parametrize("status", ["ringing", "completed"])
def test_a_forged_or_unsigned_callback_is_refused_and_changes_nothing(
    twilio_post, live_call, queue, signature, status
):
    response = twilio_post(path_of(live_call), callback(SID, status, 1), signature=signature)
    assert response.status_code == 403
    live_call.refresh_from_db()
    assert (live_call.status, live_call.last_sequence_number) == ("queued", None)
    assert not CallEvent.objects.exists()
    assert queue() == []


@pytest.mark.parametrize("status", ["in-progress", "completed"])
def test_a_subaccount_s_call_refuses_the_main_account_s_callback_and_changes_nothing(
    client, sub_call, queue, status
):
    response = post_as(client, path_of(sub_call), callback(SID, status, 2))
    assert response.status_code == 403
    sub_call.refresh_from_db()
    assert (sub_call.status, sub_call.last_sequence_number) == ("ringing", None)
    assert not CallEvent.objects.exists()
    assert queue() == []


@pytest.mark.parametrize("status", ["in-progress", "completed"])
def test_a_main_account_s_call_refuses_a_subaccount_s_callback_and_changes_nothing(
    client, live_call, queue, status
):
    TwilioAccount.objects.create(account_sid=SUB_SID, auth_token=SUB_TOKEN)
    params = callback(SID, status, 2, AccountSid=SUB_SID)
    response = post_as(client, path_of(live_call), params, token=SUB_TOKEN)
    assert response.status_code == 403
    live_call.refresh_from_db()
    assert (live_call.status, live_call.last_sequence_number) == ("queued", None)
    assert not CallEvent.objects.exists()
    assert queue() == []


def test_a_subaccount_s_own_signed_callback_applies(client, sub_call):
    params = callback(SID, "in-progress", 2, AccountSid=SUB_SID)
    response = post_as(client, path_of(sub_call), params, token=SUB_TOKEN)
    assert response.status_code == 204
    sub_call.refresh_from_db()
    assert sub_call.status == "in-progress"
    assert events_of(sub_call) == [("in-progress", 2, True)]


@pytest.mark.parametrize(
    "bad",
    [
        {"CallSid": "CA123"},
        {"CallSid": ""},
        {"CallStatus": "pending"},
        {"CallStatus": ""},
        {"SequenceNumber": "１２"},
        {"SequenceNumber": "-1"},
        {"SequenceNumber": "1_000"},
        {"SequenceNumber": str(2**31)},
        {"CallDuration": "5.0"},
        {"SipResponseCode": str(2**15)},
        {"AnsweredBy": "human\x00"},
        {"AnsweredBy": "m" * 33},
        {"ErrorCode": "3\n1"},
    ],
)
def test_a_malformed_callback_is_refused_400_and_changes_nothing(twilio_post, live_call, bad):
    params = {**callback(SID, "ringing", 1), **bad}
    response = twilio_post(path_of(live_call), params)
    assert response.status_code == 400
    assert next(iter(bad)) in response.content.decode()
    live_call.refresh_from_db()
    assert live_call.status == "queued"
    assert not CallEvent.objects.exists()


def test_readable_text_is_cleaned_not_refused_and_identifiers_are_stripped(twilio_post, live_call):
    params = callback(
        f" {SID} ",
        "in-progress",
        2,
        AnsweredBy=" human ",
        ErrorMessage="line\x00one\n" + "x" * 2000,
    )
    response = twilio_post(path_of(live_call), params)
    assert response.status_code == 204
    live_call.refresh_from_db()
    assert (live_call.status, live_call.answered_by) == ("in-progress", "human")
    assert live_call.error_message.startswith("line\\x00one\\n")
    assert len(live_call.error_message) == 1000


def test_reports_out_of_order_apply_only_forward_and_the_end_settles_once(
    twilio_post, live_call, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for status, sequence in [("in-progress", 2), ("ringing", 1), ("initiated", 0)]:
            assert (
                twilio_post(path_of(live_call), callback(SID, status, sequence)).status_code == 204
            )
        live_call.refresh_from_db()
        assert (live_call.status, live_call.last_sequence_number) == ("in-progress", 2)
        end = callback(SID, "completed", 3, CallDuration="6")
        assert twilio_post(path_of(live_call), end).status_code == 204
        assert twilio_post(path_of(live_call), end).status_code == 204
    live_call.refresh_from_db()
    live_call.request.refresh_from_db()
    assert (live_call.status, live_call.last_sequence_number) == ("completed", 3)
    assert live_call.request.status == "done"
    assert events_of(live_call) == [
        ("in-progress", 2, True),
        ("ringing", 1, False),
        ("initiated", 0, False),
        ("completed", 3, True),
        ("completed", 3, False),
    ]
    # One end, one refill and one lead task: the duplicate end settles nothing again.
    assert queue() == [
        ("calls.tasks.dispatch", (live_call.business_id,)),
        ("leads.tasks.create_lead_from_call", (SID,)),
    ]


def test_a_live_report_after_the_end_changes_nothing_but_is_kept(
    twilio_post, live_call, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert twilio_post(path_of(live_call), callback(SID, "completed", 3)).status_code == 204
    ended = CallLog.objects.get(pk=live_call.pk)
    response = twilio_post(path_of(live_call), callback(SID, "in-progress", 2))
    assert response.status_code == 204
    live_call.refresh_from_db()
    assert (live_call.status, live_call.last_sequence_number) == ("completed", 3)
    assert (live_call.ended_at, live_call.updated_at) == (ended.ended_at, ended.updated_at)
    assert events_of(live_call) == [("completed", 3, True), ("in-progress", 2, False)]


@pytest.mark.parametrize("status", ["ringing", "completed"])
def test_a_body_that_is_not_form_encoded_is_refused_400_and_changes_nothing(
    client, live_call, status
):
    params = callback(SID, status, 1)
    response = client.post(
        path_of(live_call),
        data=params,  # multipart
        HTTP_X_TWILIO_SIGNATURE=sign(path_of(live_call), params),
    )
    assert response.status_code == 400
    live_call.refresh_from_db()
    assert live_call.status == "queued"
    assert not CallEvent.objects.exists()
