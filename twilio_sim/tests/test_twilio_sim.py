"""The local Twilio simulator: REST shapes, signed callbacks, outcomes, faults and the control API.

Runs the simulator in-process on a free port with a fast (or manual) clock and catches its
requests with a small HTTP receiver; no Django involved.
"""

import datetime
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
from email.utils import parsedate_to_datetime
from pathlib import Path

import jsonschema
import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from twilio_sim.control import SimControl
from twilio_sim.outcomes import OUTCOMES, outcome_for, validate_mix
from twilio_sim.server import Simulator
from twilio_sim.tests.peers import ACCOUNT_SID, ALL_EVENTS, AUTH_TOKEN, FROM, Api, Receiver

SPEC_PATH = Path(__file__).resolve().parents[1] / "spec" / "twilio-calls-openapi.json"


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def simulator():
    # Speed 20: ring 1.5 s -> 75 ms, a call of 3 s -> 150 ms, the list delay of 2 s -> 100 ms.
    sim = Simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, port=0, speed=20)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def control(simulator, receiver):
    control = SimControl(simulator.base_url)
    control.reset()
    receiver.clear()
    return control


@pytest.fixture
def api(simulator, receiver, control):
    return Api(simulator.base_url, receiver.base_url)


def _nullable_to_json_schema(node):
    """OpenAPI 3.0 says `nullable: true`; JSON Schema says `type: [..., "null"]`."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False) is True and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    return node


@pytest.fixture(scope="module")
def spec():
    if not SPEC_PATH.exists():
        pytest.fail(f"Twilio's OpenAPI spec is missing at {SPEC_PATH}")
    return _nullable_to_json_schema(json.loads(SPEC_PATH.read_text()))


def validator_for(spec, schema):
    return jsonschema.Draft202012Validator({**schema, "components": spec["components"]})


def call_validator(spec):
    return validator_for(spec, {"$ref": "#/components/schemas/api.v2010.account.call"})


def statuses(callbacks):
    return [c["params"]["CallStatus"] for c in callbacks]


def test_create_fetch_update_and_list_answer_in_the_shape_of_twilios_spec(api, control, spec):
    call_schema = call_validator(spec)
    call_fields = set(spec["components"]["schemas"]["api.v2010.account.call"]["properties"])
    paths = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls.json"]
    list_schema = validator_for(
        spec, paths["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    )

    created = api.create("+15551110001")
    assert created.status_code == 201
    call = created.json()
    call_schema.validate(call)
    assert set(call) == call_fields
    assert call["sid"].startswith("CA") and len(call["sid"]) == 34
    assert (call["status"], call["direction"], call["to"], call["from"]) == (
        "queued",
        "outbound-api",
        "+15551110001",
        FROM,
    )
    assert parsedate_to_datetime(call["date_created"]).tzinfo is not None
    assert call["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call['sid']}.json"

    fetched = api.fetch(call["sid"])
    assert fetched.status_code == 200
    call_schema.validate(fetched.json())

    updated = api.update(call["sid"], Status="completed")
    assert updated.status_code == 200
    call_schema.validate(updated.json())
    assert updated.json()["end_time"] is not None

    listing = control.wait_until(
        lambda _: (r := api.list(To="+15551110001").json())["calls"] and r, timeout=5
    )
    list_schema.validate(listing)
    assert [c["sid"] for c in listing["calls"]] == [call["sid"]]
    for field in (
        "page",
        "page_size",
        "uri",
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
        "start",
        "end",
    ):
        assert field in listing


def test_a_wrong_password_or_no_credentials_get_401_with_twilios_error_body(api, control):
    wrong = api.create("+15551110001", auth=(ACCOUNT_SID, "wrong-token"))
    missing = requests.get(api.calls_url, timeout=5)
    other_account = requests.get(
        api.calls_url.replace(ACCOUNT_SID, "AC" + "2" * 32),
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )

    expected = {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    for response in (wrong, missing, other_account):
        assert response.status_code == 401
        assert response.json() == expected
    assert control.calls() == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to": None}, 21201),
        ({"From": None}, 21603),
        ({"Url": None}, 21205),
        ({"to": "5551234"}, 21211),
        ({"to": "+0123456789"}, 21211),
    ],
)
def test_an_incomplete_or_invalid_create_gets_400_with_twilios_code_and_places_nothing(
    api, control, fields, code
):
    response = api.create(**{"to": "+15551110001", **fields})

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"]) == (code, 400)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert control.calls() == []


def test_an_unknown_call_sid_gets_404_with_code_20404(api, control):
    response = api.fetch("CA" + "f" * 32)

    assert response.status_code == 404
    assert response.json()["code"] == 20404


def test_twilio_python_client_creates_fetches_and_lists_calls_on_the_simulator(
    simulator, receiver, control
):
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = simulator.base_url

    call = client.calls.create(
        to="+15551110007",
        from_=FROM,
        url=f"{receiver.base_url}/answer",
        status_callback=f"{receiver.base_url}/status",
        status_callback_event=ALL_EVENTS,
        timeout=30,
        time_limit=600,
    )
    control.wait_for_end(call.sid)
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    listed = control.wait_until(
        lambda _: client.calls.list(to="+15551110007", from_=FROM, start_time_after=since)
    )

    assert client.calls(call.sid).fetch().status == "completed"
    assert [c.sid for c in listed] == [call.sid]
    assert (
        client.calls.list(to="+15551110007", start_time_after=since + datetime.timedelta(days=1))
        == []
    )
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(to="not-a-number", from_=FROM, url=f"{receiver.base_url}/answer")
    assert refused.value.code == 21211
    assert refused.value.status == 400


def test_callbacks_carry_a_twilio_signature_that_breaks_when_a_parameter_changes(
    api, receiver, control
):
    sid = api.create("+15551110001").json()["sid"]
    callbacks = receiver.wait_for_callbacks(sid, 4)
    answers = receiver.answers(sid)
    validator = RequestValidator(AUTH_TOKEN)

    for request in [*callbacks, *answers]:
        assert validator.validate(request["url"], request["params"], request["signature"])
        tampered = {
            **request["params"],
            "CallStatus": "busy" if request["params"]["CallStatus"] != "busy" else "completed",
        }
        assert not validator.validate(request["url"], tampered, request["signature"])
    assert not RequestValidator("another-token").validate(
        callbacks[0]["url"], callbacks[0]["params"], callbacks[0]["signature"]
    )


def test_an_answered_call_reports_each_event_in_order_with_sequence_numbers_from_zero(
    api, receiver, control
):
    sid = api.create("+15551110001").json()["sid"]
    callbacks = receiver.wait_for_callbacks(sid, 4)

    assert statuses(callbacks) == ["initiated", "ringing", "in-progress", "completed"]
    assert [int(c["params"]["SequenceNumber"]) for c in callbacks] == [0, 1, 2, 3]
    for callback in callbacks:
        params = callback["params"]
        assert (params["AccountSid"], params["To"], params["From"]) == (
            ACCOUNT_SID,
            "+15551110001",
            FROM,
        )
        assert (params["Direction"], params["ApiVersion"]) == ("outbound-api", "2010-04-01")
        assert params["CallbackSource"] == "call-progress-events"
        assert parsedate_to_datetime(params["Timestamp"]).tzinfo is not None
    terminal = callbacks[-1]["params"]
    assert terminal["SipResponseCode"] == "200"
    assert int(terminal["CallDuration"]) == 3
    assert "CallDuration" not in callbacks[0]["params"]
    answer = receiver.answers(sid)
    assert [a["params"]["CallStatus"] for a in answer] == ["in-progress"]
    record = control.call(sid)
    assert (record["status"], record["duration"], record["error_code"]) == ("completed", 3, None)
    assert api.fetch(sid).json()["duration"] == "3"


def test_without_status_callback_event_only_the_terminal_callback_is_sent(api, receiver, control):
    sid = api.create("+15551110001", StatusCallbackEvent=None).json()["sid"]
    control.wait_for_end(sid)
    callbacks = receiver.wait_for_callbacks(sid, 1)
    time.sleep(0.1)

    assert statuses(receiver.callbacks(sid)) == ["completed"]
    assert callbacks[0]["params"]["SequenceNumber"] == "0"


@pytest.mark.parametrize(
    ("to", "status", "sip_code", "answered"),
    [
        ("+15551110002", "busy", "486", False),
        ("+15551110003", "no-answer", "487", False),
        ("+15551110004", "failed", "500", False),
        ("+15551110005", "completed", "200", True),
        ("+15551110009", "no-answer", "487", False),
        ("+15551118888", "completed", "200", True),
    ],
)
def test_the_last_four_digits_of_to_choose_the_outcome(
    api, receiver, control, to, status, sip_code, answered
):
    sid = api.create(to, Timeout="10").json()["sid"]
    record = control.wait_for_end(sid)
    # The record may end a moment before the terminal callback is delivered: wait for all.
    expected = {"failed": 2, "busy": 3, "no-answer": 3, "completed": 4}[status]
    terminal = receiver.wait_for_callbacks(sid, expected)[-1]["params"]

    assert record["planned_outcome"] == outcome_for(to)
    assert (record["status"], terminal["CallStatus"], terminal["SipResponseCode"]) == (
        status,
        status,
        sip_code,
    )
    assert bool(receiver.answers(sid)) is answered
    assert ("in-progress" in statuses(receiver.callbacks(sid))) is answered


def test_a_short_call_and_a_ring_timeout_last_as_their_rules_say(simulator, api, control):
    control.configure(clock="manual")
    short = api.create("+15551110005").json()["sid"]
    unanswered = api.create("+15551110009", Timeout="20").json()["sid"]
    control.advance(100)

    short_record, unanswered_record = control.call(short), control.call(unanswered)
    assert short_record["duration"] == 1
    assert unanswered_record["ended_at"] - unanswered_record["ringing_at"] == pytest.approx(20)


def test_a_ring_timeout_shorter_than_the_ring_time_ends_the_call_as_no_answer(
    api, receiver, control
):
    control.configure(ring_seconds=5)
    sid = api.create("+15551110001", Timeout="2").json()["sid"]

    record = control.wait_for_end(sid)
    assert record["status"] == "no-answer"
    assert record["ended_at"] - record["ringing_at"] == pytest.approx(2)


def test_a_seeded_mix_gives_the_same_outcome_for_the_same_seed_and_number(api, control):
    mix = {"completed": 0.5, "busy": 0.3, "no-answer": 0.2}
    drawn = {outcome_for(f"+1555200{n:04d}", 42, mix) for n in range(100, 300)}
    control.configure(mix=mix, seed=42)
    sid = api.create("+15552000123").json()["sid"]

    assert drawn == {"completed", "busy", "no-answer"}
    assert outcome_for("+15552000123", 42, mix) == outcome_for("+15552000123", 42, mix)
    assert control.call(sid)["planned_outcome"] == outcome_for("+15552000123", 42, mix)
    assert outcome_for("+15552000002", 42, mix) == "busy", "a digit rule wins over the mix"
    assert [outcome_for(f"+1555200{n:04d}", 42, mix) for n in range(100, 120)] != [
        outcome_for(f"+1555200{n:04d}", 7, mix) for n in range(100, 120)
    ]


def test_a_per_number_outcome_set_at_run_time_overrides_the_digit_rules(api, receiver, control):
    control.configure(
        numbers={"+15551110002": {"outcome": "completed"}, "+15551110077": {"outcome": "failed"}}
    )
    answered = api.create("+15551110002").json()["sid"]
    failed = api.create("+15551110077").json()["sid"]

    assert control.wait_for_end(answered)["status"] == "completed"
    assert control.wait_for_end(failed)["status"] == "failed"
    with pytest.raises(urllib.error.HTTPError):
        control.configure(numbers={"+15551110002": {"outcome": "exploded"}})


def test_canceling_a_queued_or_ringing_call_ends_it_as_canceled_and_a_second_update_is_refused(
    api, receiver, control
):
    control.configure(clock="manual")
    sid = api.create("+15551110001").json()["sid"]
    control.advance(0.6)
    assert control.call(sid)["phase"] == "ringing"

    updated = api.update(sid, Status="canceled")
    control.advance(0)

    assert updated.json()["status"] == "canceled"
    assert statuses(receiver.callbacks(sid)) == ["initiated", "ringing", "canceled"]
    assert receiver.callbacks(sid)[-1]["params"]["SipResponseCode"] == "487"
    again = api.update(sid, Status="completed")
    assert (again.status_code, again.json()["code"]) == (400, 21220)
    assert receiver.answers(sid) == []


def test_completing_an_answered_call_hangs_it_up_and_sends_the_terminal_callback(
    api, receiver, control
):
    control.configure(clock="manual")
    sid = api.create("+15551110001").json()["sid"]
    control.advance(2.5)
    ignored = api.update(sid, Status="canceled")
    assert ignored.json()["status"] == "in-progress", "Twilio ignores canceled on an answered call"
    control.advance(0.5)

    hung_up = api.update(sid, Status="completed")
    control.advance(0)

    assert hung_up.json()["status"] == "completed"
    assert hung_up.json()["duration"] == "1"
    assert statuses(receiver.callbacks(sid)) == ["initiated", "ringing", "in-progress", "completed"]


def test_the_list_hides_a_new_call_for_list_delay_while_fetch_sees_it(api, control):
    control.configure(clock="manual", list_delay=2)
    sid = api.create("+15551110001").json()["sid"]

    assert api.list().json()["calls"] == []
    assert api.fetch(sid).status_code == 200
    control.advance(1.9)
    assert api.list().json()["calls"] == []
    control.advance(0.2)
    assert [c["sid"] for c in api.list().json()["calls"]] == [sid]
    assert [c["sid"] for c in api.list(Status="in-progress").json()["calls"]] == [sid]
    assert api.list(To="+15559999999").json()["calls"] == []


def test_the_list_pages_newest_first_with_twilios_page_uris(api, control):
    control.configure(clock="manual", list_delay=0)
    sids = [api.create(f"+1555111{n:04d}").json()["sid"] for n in range(10, 15)]
    control.advance(0.01)

    first = api.list(PageSize=2).json()
    second = requests.get(
        api.base_url + first["next_page_uri"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    ).json()

    assert [c["sid"] for c in first["calls"]] == sids[::-1][:2]
    assert [c["sid"] for c in second["calls"]] == sids[::-1][2:4]
    assert first["previous_page_uri"] is None and second["page"] == 1


def test_calls_created_faster_than_cps_wait_queued_and_leave_at_that_rate(api, receiver, control):
    control.configure(clock="manual", cps=2)
    sids = [api.create(f"+1555333{n:04d}").json()["sid"] for n in range(10, 15)]

    assert {api.fetch(sid).json()["status"] for sid in sids} == {"queued"}
    control.advance(1.2)
    phases = [control.call(sid)["phase"] for sid in sids]
    assert phases.count("queued") == 2, phases
    control.advance(10)
    initiated = [
        next(e["at"] for e in control.call(sid)["timeline"] if e.get("status") == "initiated")
        for sid in sids
    ]
    gaps = [later - earlier for earlier, later in zip(initiated, initiated[1:], strict=False)]
    assert gaps == pytest.approx([0.5] * 4)


def test_cps_holds_a_real_clock_burst_to_the_rate(api, control):
    control.configure(cps=5)
    sids = [api.create(f"+1555444{n:04d}").json()["sid"] for n in range(10, 20)]
    records = [control.wait_for_end(sid) for sid in sids]

    initiated = sorted(r["initiated_at"] for r in records)
    assert initiated[-1] - initiated[0] >= 9 / 5 - 1e-6
    assert min(b - a for a, b in zip(initiated, initiated[1:], strict=False)) >= 0.2 - 1e-6


@pytest.mark.parametrize(
    ("mode", "code"), [("garbage", 12100), ("wrong-root", 12100), ("error", 11200)]
)
def test_an_answer_url_that_does_not_return_twiml_ends_the_call_with_an_application_error(
    api, receiver, control, mode, code
):
    receiver.answer_mode = mode
    sid = api.create("+15551110001").json()["sid"]
    record = control.wait_for_end(sid)
    callbacks = receiver.wait_for_callbacks(sid, 4)

    assert (record["status"], record["error_code"]) == ("completed", code)
    assert record["error_message"]
    assert record["ended_at"] - record["answered_at"] < 1, (
        "the call ends at once, not after the call length"
    )
    assert statuses(callbacks)[-1] == "completed"


def test_inline_twiml_needs_no_answer_url(api, receiver, control):
    sid = api.create("+15551110001", Url=None, Twiml="<Response><Say>Hi</Say></Response>").json()[
        "sid"
    ]

    record = control.wait_for_end(sid)
    assert (record["status"], record["error_code"], record["duration"]) == ("completed", None, 3)
    assert receiver.answers(sid) == []


def test_machine_detection_sets_answered_by(api, receiver, control):
    human = api.create("+15551110001", MachineDetection="Enable").json()["sid"]
    machine = api.create("+15551110006", MachineDetection="Enable").json()["sid"]
    plain = api.create("+15551110008").json()["sid"]
    for sid in (human, machine, plain):
        control.wait_for_end(sid)

    assert api.fetch(human).json()["answered_by"] == "human"
    assert api.fetch(machine).json()["answered_by"] == "machine_start"
    assert api.fetch(plain).json()["answered_by"] is None
    assert receiver.answers(machine)[0]["params"]["AnsweredBy"] == "machine_start"


def test_an_opt_out_callee_presses_9_at_the_gather_and_its_hang_up_ends_the_call(
    api, receiver, control
):
    receiver.answer_mode = "gather"
    opting = api.create("+15551110007").json()["sid"]
    listening = api.create("+15551110001").json()["sid"]
    record = control.wait_for_end(opting)
    control.wait_for_end(listening)

    (press,) = receiver.gathers(opting)
    assert press["url"] == f"{receiver.base_url}/gather"
    assert (press["params"]["Digits"], press["params"]["To"]) == ("9", "+15551110007")
    validator = RequestValidator(AUTH_TOKEN)
    assert validator.validate(press["url"], press["params"], press["signature"])
    assert receiver.gathers(listening) == []
    # The answer to the keypress hangs up: the call ends then, not after its length.
    gathered = next(e for e in record["timeline"] if e["event"] == "gather")
    ended = next(e for e in record["timeline"] if e.get("status") == "completed")
    assert (gathered["digits"], gathered["response_code"]) == ("9", 200)
    assert ended["at"] == gathered["at"]
    assert record["status"] == "completed"


def test_duplicate_callbacks_are_each_sent_twice_with_the_same_sequence_number(
    api, receiver, control
):
    control.configure(duplicate_callbacks=1.0)
    sid = api.create("+15551110001").json()["sid"]
    callbacks = receiver.wait_for_callbacks(sid, 8)

    assert [c["params"]["SequenceNumber"] for c in callbacks] == [
        "0",
        "0",
        "1",
        "1",
        "2",
        "2",
        "3",
        "3",
    ]
    assert control.stats()["callbacks"]["duplicated"] == 4


def test_reordered_callbacks_deliver_the_terminal_one_before_ringing(api, receiver, control):
    control.configure(reorder_callbacks=1.0)
    sid = api.create("+15551110001").json()["sid"]
    callbacks = receiver.wait_for_callbacks(sid, 4)

    assert statuses(callbacks)[0] == "completed"
    assert sorted(statuses(callbacks)) == sorted(
        ["initiated", "ringing", "in-progress", "completed"]
    )
    by_status = {c["params"]["CallStatus"]: int(c["params"]["SequenceNumber"]) for c in callbacks}
    assert by_status["ringing"] < by_status["completed"], (
        "sequence numbers still give the true order"
    )


def test_a_dropped_terminal_callback_for_one_number_is_never_sent_and_is_on_the_timeline(
    api, receiver, control
):
    control.configure(numbers={"+15551110001": {"drop_terminal_callback": True}})
    dropped = api.create("+15551110001").json()["sid"]
    other = api.create("+15551110011").json()["sid"]
    control.wait_for_end(dropped)
    receiver.wait_for_callbacks(other, 4)
    time.sleep(0.1)

    assert statuses(receiver.callbacks(dropped)) == ["initiated", "ringing", "in-progress"]
    assert control.call(dropped)["status"] == "completed"
    assert [
        e["status"] for e in control.call(dropped)["timeline"] if e["event"] == "callback_dropped"
    ] == ["completed"]


def test_dropping_every_callback_sends_none(api, receiver, control):
    control.configure(drop_callbacks=1.0)
    sid = api.create("+15551110001").json()["sid"]
    control.wait_for_end(sid)
    time.sleep(0.1)

    assert receiver.callbacks(sid) == []
    assert control.stats()["callbacks"]["dropped"] == 4


def test_429_on_the_next_creates_places_no_call_then_creates_work_again(api, control):
    control.configure(create_429=2)
    responses = [api.create("+15551110001") for _ in range(3)]

    assert [r.status_code for r in responses] == [429, 429, 201]
    assert responses[0].json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert [c["sid"] for c in control.calls()] == [responses[2].json()["sid"]]


def test_a_429_carries_retry_after_when_configured(api, control):
    control.configure(create_429=2, retry_after=3)
    throttled = api.create("+15551110001")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    control.configure(retry_after=0)
    assert "Retry-After" not in api.create("+15551110001").headers


@pytest.mark.parametrize(
    ("refused", "code", "status", "words"),
    [
        ("to", 21215, 400, "Account not authorized to call +15551110001"),
        ("from", 21210, 400, f"The source phone number provided, {FROM}, is not yet verified"),
        ("from", 21205, 400, "Url is not a valid URL"),
        ("to", 20003, 401, "Authenticate"),
        ("to", 21299, 400, "Error 21299"),
    ],
)
def test_a_number_refused_with_a_code_gets_twilios_error_and_places_nothing(
    api, control, refused, code, status, words
):
    number = "+15551110001" if refused == "to" else FROM
    control.configure(numbers={number: {"refuse": code}})
    response = api.create("+15551110001")
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["status"]) == (code, status)
    assert words in body["message"]
    assert control.calls() == []
    assert control.stats()["create_faults"] == {"refused": 1}
    assert api.create("+15551110011").status_code == (201 if refused == "to" else status)


def test_a_refusal_is_not_a_number(control):
    with pytest.raises(urllib.error.HTTPError):
        control.configure(numbers={"+15551110001": {"refuse": "soon"}})


def test_500_on_create_places_no_call(api, control):
    control.configure(create_500=1)
    response = api.create("+15551110001")

    assert (response.status_code, response.json()["code"]) == (500, 20500)
    assert control.calls() == []


def test_500_although_placed_leaves_a_call_that_proceeds_and_calls_back(api, receiver, control):
    control.configure(create_500_placed=1, list_delay=0)
    response = api.create("+15551110001")

    assert response.status_code == 500
    [record] = control.calls()
    callbacks = receiver.wait_for_callbacks(record["sid"], 4)
    assert statuses(callbacks)[-1] == "completed"
    assert api.fetch(record["sid"]).json()["status"] == "completed"
    assert [c["sid"] for c in api.list(To="+15551110001").json()["calls"]] == [record["sid"]]


@pytest.mark.parametrize("places_call", [True, False])
def test_a_hanging_create_outlives_the_client_timeout_and_places_the_call_as_configured(
    api, control, places_call
):
    control.configure(create_hang=1, hang_seconds=0.6, hang_places_call=places_call)

    with pytest.raises(requests.exceptions.ReadTimeout):
        api.create("+15551110001", timeout=0.2)

    assert len(control.calls()) == (1 if places_call else 0)
    assert api.create("+15551110001").status_code == 201, "only the next N creates hang"


def test_a_create_fault_for_one_number_leaves_other_numbers_alone(api, control):
    control.configure(numbers={"+15551110001": {"create_500": 1}})

    assert api.create("+15551110011").status_code == 201
    assert api.create("+15551110001").status_code == 500
    assert api.create("+15551110001").status_code == 201


def test_a_failing_callback_endpoint_is_recorded_on_the_timeline_and_not_retried(
    api, receiver, control
):
    receiver.status_code = 500
    failing = api.create("+15551110001", StatusCallbackEvent=None).json()["sid"]
    unreachable = api.create(
        "+15551110011", StatusCallbackEvent=None, StatusCallback="http://127.0.0.1:9/status"
    ).json()["sid"]
    control.wait_for_end(failing)
    control.wait_for_end(unreachable)
    receiver.wait_for_callbacks(failing, 1)

    def callback_entries(sid):
        return control.wait_until(
            lambda _: [e for e in control.call(sid)["timeline"] if e["event"] == "callback"]
        )

    assert [e["response_code"] for e in callback_entries(failing)] == [500]
    [entry] = callback_entries(unreachable)
    assert entry["response_code"] is None and entry["error"]
    assert control.stats()["callbacks"]["failed"] == 2
    assert len(receiver.callbacks(failing)) == 1


def test_stats_count_live_calls_per_from_number_and_creates_per_second(api, control):
    control.configure(clock="manual")
    for n in range(3):
        api.create(f"+1555555{n + 10:04d}")
    api.create("+15555550099", From="+15005550007")

    live = control.stats()
    assert live["max_live_by_from"] == {FROM: 3, "+15005550007": 1}
    assert live["live_by_from"][FROM] == 3
    assert live["max_creates_per_second"] == 4
    assert live["max_creates_per_second_by_from"] == {FROM: 3, "+15005550007": 1}
    control.advance(100)
    done = control.stats()
    assert done["live_by_from"][FROM] == 0
    assert done["max_live_by_from"][FROM] == 3
    assert done["by_status"] == {"completed": 4}
    assert done["live_timeline_by_from"]["+15005550007"][-1][1] == 0


def test_reset_forgets_calls_and_puts_faults_back_to_the_run_defaults(api, control):
    control.configure(create_429=5, cps=1)
    assert api.create("+15551110001").status_code == 429

    control.reset()

    assert control.calls() == []
    assert control.stats()["create_requests"] == 0
    assert control.config()["create_429"] == 0 and control.config()["cps"] == 10
    assert api.create("+15551110001").status_code == 201


def test_the_control_api_refuses_unknown_settings_and_advancing_a_real_clock(simulator, control):
    with pytest.raises(requests.exceptions.HTTPError):
        requests.post(
            f"{simulator.base_url}/_sim/config", json={"no_such_knob": 1}, timeout=5
        ).raise_for_status()
    with pytest.raises(requests.exceptions.HTTPError):
        requests.post(
            f"{simulator.base_url}/_sim/clock", json={"advance": 1}, timeout=5
        ).raise_for_status()


def test_every_outcome_name_in_the_mix_is_a_known_outcome():
    assert outcome_for("+15551118888", 1, {"failed": 1.0}) == "failed"
    with pytest.raises(ValueError):
        validate_mix({"exploded": 1.0})
    assert set(OUTCOMES) >= {"completed", "busy", "no-answer", "failed"}


def test_timestamps_stay_on_the_real_calendar_so_a_start_time_filter_finds_a_fresh_call(
    api, control
):
    control.configure(clock="manual", list_delay=0)
    stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    sid = api.create("+15551110001").json()["sid"]
    control.advance(50)

    found = api.list(**{"StartTime>": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}).json()["calls"]
    started = parsedate_to_datetime(api.fetch(sid).json()["start_time"])
    assert [c["sid"] for c in found] == [sid]
    assert abs((started - stamp).total_seconds()) < 5
    later = (stamp + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.list(**{"StartTime>": later}).json()["calls"] == []


def test_the_command_line_documents_its_flags():
    result = subprocess.run(
        [sys.executable, "-m", "twilio_sim", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.returncode == 0
    flags = ("--account-sid", "--auth-token", "--cps", "--speed", "--clock", "--mix", "--seed")
    for flag in (*flags, "--retry-after"):
        assert flag in result.stdout


def test_an_ended_call_is_priced_after_price_delay_seconds_by_its_started_minutes(
    api, control, spec
):
    control.configure(clock="manual", call_seconds=70, price_delay_seconds=30)
    answered = api.create("+15551110001").json()["sid"]
    busy = api.create("+15551110002").json()["sid"]
    assert api.fetch(answered).json()["price"] is None, "a live call has no price"

    control.advance(75)
    ended = api.fetch(answered).json()
    assert (ended["status"], ended["duration"], ended["price"]) == ("completed", "70", None)
    assert api.fetch(busy).json()["price"] == "0.00000", "ended 30 s ago and more: priced, free"

    control.advance(30)
    priced = api.fetch(answered).json()
    call_validator(spec).validate(priced)
    assert (priced["price"], priced["price_unit"]) == ("-0.02600", "USD"), "two started minutes"
    listed = {c["sid"]: c["price"] for c in api.list().json()["calls"]}
    assert listed == {answered: "-0.02600", busy: "0.00000"}


def test_a_flagged_caller_number_s_calls_are_mostly_rejected_with_603_or_unanswered(
    api, receiver, control
):
    flagged = "+15551239999"
    control.configure(numbers={flagged: {"flagged": True}}, seed=7)
    sids = [api.create(f"+1555111{n:04d}", From=flagged).json()["sid"] for n in range(40)]
    plain = api.create("+15551110001").json()["sid"]

    ended = [control.wait_for_end(sid) for sid in sids]

    outcomes = [record["planned_outcome"] for record in ended]
    assert outcomes.count("rejected") + outcomes.count("no-answer") >= 34
    assert outcomes.count("rejected") >= 10
    rejected = next(r for r in ended if r["planned_outcome"] == "rejected")
    assert rejected["status"] == "busy"
    terminal = receiver.wait_for_callbacks(rejected["sid"], 3)[-1]["params"]
    assert (terminal["CallStatus"], terminal["SipResponseCode"]) == ("busy", "603")
    assert control.wait_for_end(plain)["status"] == "completed"  # from the usual number
    with pytest.raises(urllib.error.HTTPError):
        control.configure(numbers={flagged: {"flagged": "yes"}})


def test_twilio_python_lists_the_account_s_incoming_phone_numbers(simulator, control):
    numbers = [f"+1555123{n:04d}" for n in range(60)]
    control.configure(incoming_numbers=numbers)
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = simulator.base_url

    listed = client.incoming_phone_numbers.list(page_size=25)

    assert [n.phone_number for n in listed] == numbers  # every page
    assert all(n.sid.startswith("PN") and len(n.sid) == 34 for n in listed)
    assert listed[0].capabilities["voice"] is True
    assert len({n.sid for n in listed}) == 60
    one = client.incoming_phone_numbers.list(phone_number=numbers[3])
    assert [n.phone_number for n in one] == [numbers[3]]
