"""Answering-machine detection on the simulator: AsyncAmd's signed callback, the call update that
redirects a live call to new TwiML, and the record of what each call played."""

import pytest
from twilio.request_validator import RequestValidator

from twilio_sim.control import SimControl
from twilio_sim.server import Simulator
from twilio_sim.tests.peers import ACCOUNT_SID, AUTH_TOKEN, TWIML, Api, Receiver

VOICEMAIL = "<Response><Say>Please call us back.</Say><Hangup/></Response>"
HUMAN, MACHINE = "+15551110001", "+15551110006"


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def simulator():
    with Simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, port=0) as sim:
        yield sim


@pytest.fixture
def control(simulator, receiver):
    control = SimControl(simulator.base_url)
    control.reset()
    # Manual clock: answered 2.0 s after the create (0.5 to ring, 1.5 of ringing), the verdict
    # 1.0 s after that.
    control.configure(clock="manual")
    receiver.clear()
    return control


@pytest.fixture
def api(simulator, receiver, control):
    return Api(simulator.base_url, receiver.base_url)


def create_with_amd(api, receiver, to, mode="DetectMessageEnd"):
    response = api.create(
        to,
        MachineDetection=mode,
        AsyncAmd="true",
        AsyncAmdStatusCallback=f"{receiver.base_url}/amd",
        AsyncAmdStatusCallbackMethod="POST",
    )
    assert response.status_code == 201, response.text
    return response.json()["sid"]


def amd_callbacks(receiver, sid):
    return [r for r in receiver.requests if r["path"] == "/amd" and r["params"]["CallSid"] == sid]


def test_async_amd_posts_a_signed_machine_end_beep_after_answer_while_the_script_plays(
    api, receiver, control
):
    sid = create_with_amd(api, receiver, MACHINE)
    control.advance(2.5)

    assert receiver.answers(sid)[0]["params"].get("AnsweredBy") is None, "async: not waited for"
    assert amd_callbacks(receiver, sid) == []
    control.advance(1)

    (callback,) = amd_callbacks(receiver, sid)
    assert callback["params"] == {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "AnsweredBy": "machine_end_beep",
        "MachineDetectionDuration": "1000",
    }
    assert RequestValidator(AUTH_TOKEN).validate(
        callback["url"], callback["params"], callback["signature"]
    )
    record = control.call(sid)
    assert (record["phase"], record["answered_by"]) == ("in-progress", "machine_end_beep")
    assert [entry["source"] for entry in record["played"]] == ["answer_url"]
    assert record["played"][0]["twiml"] == TWIML.decode()
    (sent,) = [entry for entry in record["timeline"] if entry["event"] == "amd_callback"]
    assert sent["response_code"] == 204


def test_a_human_gets_a_human_verdict_and_the_call_ends_after_its_length(api, receiver, control):
    sid = create_with_amd(api, receiver, HUMAN)
    control.advance(10)

    (callback,) = amd_callbacks(receiver, sid)
    assert callback["params"]["AnsweredBy"] == "human"
    record = control.call(sid)
    assert (record["status"], record["duration"]) == ("completed", 3)
    assert record["answered_by"] == "human"
    assert [entry["source"] for entry in record["played"]] == ["answer_url"]
    terminal = receiver.callbacks(sid)[-1]["params"]
    assert (terminal["CallStatus"], terminal["AnsweredBy"]) == ("completed", "human")


def test_enable_gives_machine_start_and_without_async_no_amd_callback_is_sent(
    api, receiver, control
):
    enabled = create_with_amd(api, receiver, MACHINE, mode="Enable")
    synchronous = api.create(MACHINE[:-4] + "1006", MachineDetection="DetectMessageEnd").json()
    control.advance(60)

    assert amd_callbacks(receiver, enabled)[0]["params"]["AnsweredBy"] == "machine_start"
    assert amd_callbacks(receiver, synchronous["sid"]) == []
    answer = receiver.answers(synchronous["sid"])[0]["params"]
    assert answer["AnsweredBy"] == "human", "1006 is not a machine number: only ...0006 is"


def test_a_machine_records_until_it_hangs_up_unless_the_call_is_redirected(api, receiver, control):
    sid = create_with_amd(api, receiver, MACHINE)
    control.advance(22.9)
    assert control.call(sid)["phase"] == "in-progress", "a machine records machine_seconds (20)"
    control.advance(0.2)

    record = control.call(sid)
    assert (record["status"], record["duration"]) == ("completed", 21)
    assert [entry["source"] for entry in record["played"]] == ["answer_url"]


def test_an_update_with_twiml_plays_it_then_its_hangup_ends_the_call(api, receiver, control):
    sid = create_with_amd(api, receiver, MACHINE)
    control.advance(3.2)

    updated = api.update(sid, Twiml=VOICEMAIL)
    assert updated.status_code == 200
    assert updated.json()["status"] == "in-progress"
    control.advance(0.9)
    assert control.call(sid)["phase"] == "in-progress", "the message plays update_play_seconds"
    control.advance(0.2)

    record = control.call(sid)
    assert (record["status"], record["duration"]) == ("completed", 2)
    assert record["ended_at"] - record["answered_at"] == pytest.approx(2.2)
    assert [entry["source"] for entry in record["played"]] == ["answer_url", "update"]
    assert record["played"][-1]["twiml"] == VOICEMAIL
    assert [e["twiml"] for e in record["timeline"] if e["event"] == "update"] == [VOICEMAIL]
    assert receiver.callbacks(sid)[-1]["params"]["CallStatus"] == "completed"
    control.advance(30)
    assert control.call(sid)["ended_at"] == record["ended_at"], "the machine's own end is void"


def test_an_update_that_only_hangs_up_ends_the_call_at_once(api, receiver, control):
    sid = create_with_amd(api, receiver, MACHINE)
    control.advance(3.5)

    api.update(sid, Twiml="<Response><Hangup/></Response>")
    control.advance(0)

    record = control.call(sid)
    assert record["status"] == "completed"
    assert record["ended_at"] - record["answered_at"] == pytest.approx(1.5)
    assert record["played"][-1]["twiml"] == "<Response><Hangup/></Response>"


def test_an_update_with_bad_twiml_is_refused_and_an_ended_call_cannot_be_redirected(
    api, receiver, control
):
    sid = create_with_amd(api, receiver, HUMAN)
    control.advance(2.5)

    refused = api.update(sid, Twiml="<Html/>")
    assert (refused.status_code, refused.json()["code"]) == (400, 12100)
    assert [e["source"] for e in control.call(sid)["played"]] == ["answer_url"]
    control.advance(10)
    late = api.update(sid, Twiml=VOICEMAIL)
    assert (late.status_code, late.json()["code"]) == (400, 21220)
    assert control.call(sid)["played"][-1]["source"] == "answer_url"


def test_without_machine_detection_there_is_no_verdict_and_no_amd_callback(api, receiver, control):
    sid = api.create(
        MACHINE, AsyncAmd="true", AsyncAmdStatusCallback=f"{receiver.base_url}/amd"
    ).json()["sid"]
    control.advance(30)

    record = control.call(sid)
    assert (record["answered_by"], record["machine_detection"], record["async_amd"]) == (
        None,
        None,
        False,
    )
    assert amd_callbacks(receiver, sid) == []
    assert record["duration"] == 3, "a machine without detection lasts call_seconds"


def test_an_update_before_answer_is_what_the_call_plays_when_answered(api, receiver, control):
    sid = create_with_amd(api, receiver, HUMAN)
    control.advance(1)  # ringing

    assert api.update(sid, Twiml=VOICEMAIL).json()["status"] == "ringing"
    control.advance(1.5)

    record = control.call(sid)
    assert record["phase"] == "in-progress"
    assert [(e["source"], e["twiml"]) for e in record["played"]] == [("update", VOICEMAIL)]
    assert receiver.answers(sid) == [], "the update replaced the answer URL"
