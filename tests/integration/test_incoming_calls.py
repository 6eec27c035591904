import pytest

from calls.models import CallLog

SID = "CA" + "b" * 32
URL = "/twilio/voice/incoming"


def incoming(to, sid=SID):
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550199",
        "To": to,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def test_it_answers_with_twiml_and_records_one_call(
    twilio_post, business, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(URL, incoming(business.phone_number))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    body = response.content.decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Say>')
    assert "Acme Plumbing" in body
    call = CallLog.objects.get()
    assert (call.call_sid, call.direction, call.from_number, call.to_number, call.status) == (
        SID,
        "inbound",
        "+14155550199",
        business.phone_number,
        "ringing",
    )
    assert call.business == business
    assert queue() == [("leads.tasks.create_lead_from_call", (SID,))]


def test_a_retried_webhook_does_not_record_a_second_call(
    twilio_post, business, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = twilio_post(URL, incoming(business.phone_number))
        second = twilio_post(URL, incoming(business.phone_number))
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert CallLog.objects.count() == 1
    assert queue() == [("leads.tasks.create_lead_from_call", (SID,))]


def test_an_unknown_number_gets_a_polite_reject_with_200(twilio_post, business, queue):
    response = twilio_post(URL, incoming("+14155550999"))
    assert response.status_code == 200
    assert "not in service" in response.content.decode()
    assert "<Hangup />" in response.content.decode()
    assert not CallLog.objects.exists()
    assert queue() == []


def test_an_unsigned_incoming_call_gets_403(twilio_post, business):
    response = twilio_post(URL, incoming(business.phone_number), signature="")
    assert response.status_code == 403
    assert not CallLog.objects.exists()


def test_an_incoming_call_without_a_sid_gets_400(twilio_post, business):
    params = incoming(business.phone_number)
    del params["CallSid"]
    assert twilio_post(URL, params).status_code == 400
    assert not CallLog.objects.exists()


def test_a_to_number_written_another_way_still_finds_the_business(twilio_post, business):
    response = twilio_post(URL, incoming("+1 (415) 555-0100"))
    assert "Acme Plumbing" in response.content.decode()
    assert CallLog.objects.get().business == business


@pytest.mark.parametrize(
    "field, value",
    [
        ("To", "+１４１５５５５０１００"),  # full-width: phonenumbers would read it as the business
        ("From", "+14155550199\x00"),
        ("From", "+1415\x1b[2J5550199"),
        ("From", "client:" + "a" * 60),
        ("To", ""),
    ],
)
def test_an_incoming_call_with_a_malformed_address_gets_400_and_records_nothing(
    twilio_post, business, queue, field, value
):
    params = {**incoming(business.phone_number), field: value}
    assert twilio_post(URL, params).status_code == 400
    assert not CallLog.objects.exists()
    assert queue() == []


def test_a_caller_id_twilio_writes_as_a_word_is_recorded(twilio_post, business):
    response = twilio_post(URL, {**incoming(business.phone_number), "From": "anonymous"})
    assert response.status_code == 200
    assert CallLog.objects.get().from_number == "anonymous"
