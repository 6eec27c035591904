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


def test_it_refuses_a_callback_whose_parameters_were_changed_after_signing(
    twilio_post, inbound_call
):
    signature = sign(STATUS_URL, callback("no-answer", 1))
    response = twilio_post(STATUS_URL, callback("completed", 1), signature=signature)
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
        # Past PostgreSQL's integer (a 500 there before), or past smallint for a SIP code.
        {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "2147483648"},
        {"CallSid": SID, "CallStatus": "completed", "CallDuration": "9" * 30},
        {"CallSid": SID, "CallStatus": "completed", "SipResponseCode": "32768"},
        # Numbers int() reads but Twilio never writes: full-width, Arabic-Indic, grouped, decimal.
        {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "１２"},
        {"CallSid": SID, "CallStatus": "completed", "SipResponseCode": "٤٨٦"},
        {"CallSid": SID, "CallStatus": "completed", "CallDuration": "1_000"},
        {"CallSid": SID, "CallStatus": "completed", "CallDuration": "5.0"},
        # Identifiers the service stores as they are: control characters, or too long.
        {"CallSid": SID, "CallStatus": "completed", "AnsweredBy": "human\x00"},
        {"CallSid": SID, "CallStatus": "completed", "ErrorCode": "\x1b[31m31000"},
        {"CallSid": SID, "CallStatus": "completed", "AnsweredBy": "m" * 33},
    ],
)
def test_a_malformed_callback_gets_400_and_changes_nothing(twilio_post, inbound_call, params):
    response = twilio_post(STATUS_URL, params)
    assert response.status_code == 400
    inbound_call.refresh_from_db()
    assert inbound_call.status == "ringing"
    assert not CallEvent.objects.exists()


def test_numbers_at_the_edge_of_their_columns_are_stored(twilio_post, inbound_call):
    response = twilio_post(
        STATUS_URL,
        callback("completed", 2**31 - 1, CallDuration=str(2**31 - 1), SipResponseCode="32767"),
    )
    assert response.status_code == 204
    inbound_call.refresh_from_db()
    assert (inbound_call.last_sequence_number, inbound_call.duration_seconds) == (2**31 - 1,) * 2
    assert CallEvent.objects.get().sip_response_code == 32767


def test_an_error_message_with_control_characters_is_kept_escaped_and_capped(
    twilio_post, inbound_call
):
    message = "Carrier said:\x00 no\nroute \x1b[0m" + "x" * 2000
    response = twilio_post(
        STATUS_URL, callback("failed", 4, ErrorCode="32009", ErrorMessage=message)
    )
    assert response.status_code == 204
    inbound_call.refresh_from_db()
    assert inbound_call.status == "failed"
    assert inbound_call.error_code == "32009"
    assert inbound_call.error_message.startswith("Carrier said:\\x00 no\\nroute \\x1b[0mxxx")
    assert len(inbound_call.error_message) == 1000
    assert inbound_call.error_message.endswith("…")


def test_the_raw_parameters_are_kept_with_unprintable_characters_escaped(twilio_post, inbound_call):
    extra = {"Caller\x00Name": "Ann\x00\u202e", "StirVerstat": "TN-Validation-Passed-A\x7f"}
    extra.update({f"Extra{n}": "y" * 3000 for n in range(120)})
    response = twilio_post(STATUS_URL, callback("completed", 5, **extra))
    assert response.status_code == 204
    params = CallEvent.objects.get().params
    assert params["Caller\\x00Name"] == "Ann\\x00\\u202e"
    assert params["StirVerstat"] == "TN-Validation-Passed-A\\x7f"
    assert params["CallStatus"] == "completed"
    assert len(params["Extra0"]) == 1000
    assert len(params) == 101  # the first hundred, and how many more there were
    assert params["…"] == "26 more parameters not kept"


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data; boundary=b; charset=raw-unicode-escape",
         b'--b\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\n\\ud800\r\n--b--\r\n'),
        ("multipart/form-data; boundary=b; charset=rot13",
         b'--b\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\nx\r\n--b--\r\n'),
        ("application/json", b'{"CallSid": "x"}'),
        ("application/x-www-form-urlencoded; charset=utf-16", b"CallSid=x"),
    ],
)  # fmt: skip
def test_a_body_twilio_would_not_send_gets_400_before_it_is_parsed(
    client, inbound_call, content_type, body
):
    # The first two were a 500 before: the signature check could not encode what they decode to.
    response = client.generic(
        "POST", STATUS_URL, body, content_type=content_type, HTTP_X_TWILIO_SIGNATURE="x"
    )
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
