"""Answering-machine detection as real processes (gunicorn, a qcluster, the local Twilio) on
PostgreSQL: what each callee heard is read from the simulator's own record of the TwiML played."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from tests.e2e.queue_checks import ALL_DAY, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MESSAGE = "Hello, this is Acme Plumbing. Please call us back."
SCRIPT = "Spring sale!"
# The simulator's rules: a number ending 0006 is answered by a machine, others by a person.
MACHINE, PERSON = "+14155590006", "+14155590101"


def test_with_detection_a_machine_is_left_the_message_and_a_person_hears_the_script(stack_for):
    stack = stack_for("orm")
    # Long enough for a person's verdict to come while the call is live.
    stack.sim.configure(call_seconds=3, amd_seconds=0.5)
    business = Business.objects.create(
        **ALL_DAY, name="Acme", phone_number="+14155550190", max_concurrent_calls=2
    )
    Campaign.objects.create(
        business=business,
        name="spring",
        say_text=SCRIPT,
        machine_detection=True,
        voicemail_text=MESSAGE,
    )

    out = stack.manage(
        "enqueue_calls", "--business", str(business.pk), "--campaign", "spring", MACHINE, PERSON
    )
    assert out.strip().endswith("2 queued, 0 refused.")

    machine_request = wait_for(
        lambda: CallRequest.objects.filter(to_number=MACHINE, status="queued", attempts=1).first(),
        90,
        "the machine's request back in the queue",
    )
    person_request = wait_for(
        lambda: CallRequest.objects.filter(to_number=PERSON, status="done").first(),
        90,
        "the person's request done",
    )
    records = {record["to"]: record for record in stack.sim.calls()}
    assert set(records) == {MACHINE, PERSON}

    machine = records[MACHINE]
    assert (machine["machine_detection"], machine["async_amd"]) == ("DetectMessageEnd", True)
    assert machine["answered_by"] == "machine_end_beep"
    (verdict_sent,) = [e for e in machine["timeline"] if e["event"] == "amd_callback"]
    assert verdict_sent["response_code"] == 204
    assert [entry["source"] for entry in machine["played"]] == ["answer_url", "update"]
    assert SCRIPT in machine["played"][0]["twiml"]
    voicemail = machine["played"][1]["twiml"]
    assert MESSAGE in voicemail
    assert voicemail.endswith("<Hangup /></Response>")
    assert (machine["status"], machine["error_code"]) == ("completed", None)
    assert machine["duration"] < 15, "ended by the message's hang-up, not by the machine"

    machine_call = CallLog.objects.get(call_sid=machine["sid"])
    assert (machine_call.status, machine_call.answered_by) == ("completed", "machine_end_beep")
    assert machine_call.voicemail_left_at is not None
    assert machine_request.last_error.startswith(
        "Reached an answering machine (machine_end_beep); the voicemail message was left."
    )
    assert machine_request.next_attempt_at > timezone.now() + timedelta(hours=23)

    person = records[PERSON]
    assert person["answered_by"] == "human"
    assert [entry["source"] for entry in person["played"]] == ["answer_url"]
    assert SCRIPT in person["played"][0]["twiml"]
    assert MESSAGE not in person["played"][0]["twiml"]
    person_call = CallLog.objects.get(call_sid=person["sid"])
    assert (person_call.status, person_call.answered_by) == ("completed", "human")
    assert person_call.voicemail_left_at is None
    assert person_request.last_error == ""
    assert CallLog.objects.count() == 2, "the machine is not dialed again within the day"
