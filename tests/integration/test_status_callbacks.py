"""Status callbacks located by CallSid (`/twilio/voice/status`): signature, parsing, and the
forward-only status machine."""

import functools

import pytest
from django.test import RequestFactory

from calls.models import CallEvent
from calls.services.callbacks import call_callback_record
from calls.services.status import StatusReport
from tests.racing import race
from tests.recipes import callback as callback_for
from tests.recipes import make_call, sid, sign

SID = sid("a")
callback = functools.partial(callback_for, SID)


@pytest.fixture
def inbound_call(business):
    return make_call(business, direction="inbound", call_sid=SID, status="ringing")


STATUS_URL = "/twilio/voice/status"


def test_it_applies_a_signed_callback_and_records_it(
    twilio_post, inbound_call, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(
            STATUS_URL, callback("completed", 3, CallDuration="42", SipResponseCode="200")
        )
    assert response.status_code == 204
    inbound_call.refresh_from_db()
    assert inbound_call.status == "completed"
    assert inbound_call.duration_seconds == 42
    assert inbound_call.last_sequence_number == 3
    assert inbound_call.ended_at is not None
    event = CallEvent.objects.get(call=inbound_call)
    assert (event.status, event.sequence_number, event.sip_response_code, event.applied) == (
        "completed",
        3,
        200,
        True,
    )
    assert event.params["CallDuration"] == "42"
    assert queue() == [("leads.tasks.create_lead_from_call", (SID,))]


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl"])
def test_it_refuses_a_forged_or_unsigned_callback(twilio_post, inbound_call, queue, signature):
    response = twilio_post(STATUS_URL, callback("completed", 1), signature=signature)
    assert response.status_code == 403
    inbound_call.refresh_from_db()
    assert inbound_call.status == "ringing"
    assert not CallEvent.objects.exists()
    assert queue() == []


def test_it_refuses_a_callback_whose_parameters_were_changed_after_signing(client, inbound_call):
    signature = sign(STATUS_URL, callback("no-answer", 1))
    response = client.post(STATUS_URL, callback("completed", 1), HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 403
    inbound_call.refresh_from_db()
    assert inbound_call.status == "ringing"


def test_a_duplicate_callback_changes_nothing(twilio_post, inbound_call):
    twilio_post(STATUS_URL, callback("in-progress", 2))
    inbound_call.refresh_from_db()
    first_update = inbound_call.updated_at
    response = twilio_post(STATUS_URL, callback("in-progress", 2))
    assert response.status_code == 204
    inbound_call.refresh_from_db()
    assert inbound_call.status == "in-progress"
    assert inbound_call.updated_at == first_update
    assert list(CallEvent.objects.values_list("applied", flat=True)) == [True, False]


def test_ringing_after_completed_is_ignored(twilio_post, inbound_call):
    twilio_post(STATUS_URL, callback("completed", 3))
    response = twilio_post(STATUS_URL, callback("ringing", 4))
    assert response.status_code == 204
    inbound_call.refresh_from_db()
    assert inbound_call.status == "completed"
    assert inbound_call.last_sequence_number == 3


def test_a_lower_sequence_number_is_ignored(twilio_post, inbound_call):
    twilio_post(STATUS_URL, callback("in-progress", 5))
    twilio_post(STATUS_URL, callback("completed", 4))
    inbound_call.refresh_from_db()
    assert inbound_call.status == "in-progress"
    assert inbound_call.last_sequence_number == 5


def test_sequence_number_zero_is_applied(twilio_post, business):
    call = make_call(business, call_sid=SID, status="queued")
    response = twilio_post(STATUS_URL, callback("initiated", 0))
    assert response.status_code == 204
    call.refresh_from_db()
    assert call.status == "initiated"
    assert call.last_sequence_number == 0
    twilio_post(STATUS_URL, callback("initiated", 0))
    assert CallEvent.objects.filter(applied=True).count() == 1


def test_a_terminal_status_is_final(twilio_post, inbound_call):
    twilio_post(STATUS_URL, callback("busy", 2))
    twilio_post(STATUS_URL, callback("completed", 3))
    inbound_call.refresh_from_db()
    assert inbound_call.status == "busy"


@pytest.mark.parametrize(
    "params",
    [
        {"CallStatus": "completed"},
        {"CallSid": SID, "CallStatus": "exploded"},
        {"CallSid": SID},
        {"CallSid": "not-a-sid", "CallStatus": "completed"},
        {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "x"},
        {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "-1"},
        {"CallSid": SID, "CallStatus": "completed", "CallDuration": "1e400"},
        {"CallSid": SID, "CallStatus": "pending"},
    ],
)
def test_a_malformed_callback_gets_400_and_changes_nothing(twilio_post, inbound_call, params):
    response = twilio_post(STATUS_URL, params)
    assert response.status_code == 400
    inbound_call.refresh_from_db()
    assert inbound_call.status == "ringing"
    assert not CallEvent.objects.exists()


def test_an_unknown_call_sid_gets_2xx_and_a_warning(twilio_post, db, caplog):
    response = twilio_post(STATUS_URL, callback("completed", 1))
    assert response.status_code == 204
    assert "unknown call" in caplog.text
    assert not CallEvent.objects.exists()


def test_a_get_is_not_allowed(client, inbound_call):
    assert client.get(STATUS_URL).status_code == 405


def test_a_signed_non_utf8_body_gets_400_not_500(client, inbound_call):
    body = b"CallSid=\xff\xfe&CallStatus=completed"
    # Signed over what Django decodes the bad bytes to, so the body gets past the signature
    # check and must be refused by the parser.
    decoded = (
        RequestFactory()
        .post(STATUS_URL, data=body, content_type="application/x-www-form-urlencoded")
        .POST
    )
    signature = sign(STATUS_URL, decoded)
    response = client.post(
        STATUS_URL,
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 400
    inbound_call.refresh_from_db()
    assert inbound_call.status == "ringing"
    assert not CallEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_racing_terminal_callbacks_cannot_both_win(business):
    call = make_call(business, direction="inbound", call_sid=SID, status="in-progress")

    def report(status):
        return lambda: call_callback_record(
            call=call,
            sid=SID,
            report=StatusReport(status=status, sequence_number=3),
            sip_response_code=None,
            params={},
        )

    applied = race(report("completed"), report("failed"), report("busy"))
    assert sorted(applied) == [False, False, True]
    call.refresh_from_db()
    winner = CallEvent.objects.get(applied=True)
    assert call.status == winner.status
    assert CallEvent.objects.count() == 3
