"""calls/twilio_client.py against the local Twilio over real HTTP: requests, and what each
failure is classified as."""

import socket
from decimal import Decimal

import pytest

from calls import twilio_client
from calls.twilio_client import ErrorKind, TwilioError
from tests.e2e.live_stack import free_port
from twilio_accounts.credentials import main_credentials
from twilio_sim.control import SimControl
from twilio_sim.server import Simulator
from twilio_sim.tests.peers import TWIML, Receiver

SID = "AC" + "2" * 32
TOKEN = "client-test-token"
FROM = "+14155550100"


@pytest.fixture(scope="module")
def simulator():
    with Simulator(account_sid=SID, auth_token=TOKEN, port=0, speed=20, list_delay=0) as sim:
        yield sim


@pytest.fixture
def sim(simulator, settings):
    settings.TWILIO_ACCOUNT_SID = SID
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_API_BASE_URL = simulator.base_url
    settings.TWILIO_HTTP_TIMEOUT_SECONDS = 2
    control = SimControl(simulator.base_url)
    control.reset()
    return control


def create(to="+14155550123"):
    return twilio_client.call_create(
        account=main_credentials(),
        to=to,
        from_=FROM,
        url="http://127.0.0.1:9/answer",
        status_callback="http://127.0.0.1:9/status",
        timeout=7,
        time_limit=60,
    )


def test_create_sends_every_field_and_returns_the_sid(sim):
    sid = create()
    (record,) = sim.calls()
    assert record["sid"] == sid
    assert (record["to"], record["from"]) == ("+14155550123", FROM)
    assert record["status_callback"] == "http://127.0.0.1:9/status"
    assert record["url"] == "http://127.0.0.1:9/answer"
    assert record["status_callback_events"] == ["initiated", "ringing", "answered", "completed"]
    assert (record["timeout"], record["time_limit"]) == (7, 60)


def test_fetch_list_and_hang_up_reach_the_same_call(sim):
    sim.configure(ring_seconds=60)
    sid = create()
    assert twilio_client.call_fetch(account=main_credentials(), sid=sid).sid == sid
    listed = twilio_client.call_list(account=main_credentials(), to="+14155550123", from_=FROM)
    assert [c.sid for c in listed] == [sid]
    assert listed[0].date_created is not None
    twilio_client.call_hang_up(account=main_credentials(), sid=sid)
    assert twilio_client.call_fetch(account=main_credentials(), sid=sid).status in (
        "canceled",
        "completed",
    )


def test_a_region_or_edge_cannot_send_a_request_to_the_real_twilio(sim):
    client = twilio_client.client()
    client.region, client.edge = "ie1", "dublin"
    try:
        assert create()
    finally:
        client.region = client.edge = None


@pytest.mark.parametrize(
    ("fault", "kind", "code"),
    [
        ({"create_429": 1}, ErrorKind.NOT_PLACED, "20429"),
        ({"create_500": 1}, ErrorKind.UNKNOWN, "20500"),
        ({"create_500_placed": 1}, ErrorKind.UNKNOWN, "20500"),
    ],
)
def test_create_faults_are_classified_by_what_they_prove(sim, fault, kind, code):
    sim.configure(**fault)
    with pytest.raises(TwilioError) as raised:
        create()
    assert (raised.value.kind, raised.value.code) == (kind, code)
    assert not raised.value.permanent


def test_a_throttle_carries_twilios_retry_after(sim):
    sim.configure(create_429=2, retry_after=4)
    with pytest.raises(TwilioError) as raised:
        create()
    assert (raised.value.kind, raised.value.retry_after) == (ErrorKind.NOT_PLACED, 4)
    sim.configure(retry_after=0)
    with pytest.raises(TwilioError) as raised:
        create()
    assert raised.value.retry_after is None


@pytest.mark.parametrize(
    ("refused", "code", "kind"),
    [
        ("to", 21215, ErrorKind.REFUSED_NUMBER),
        ("to", 21216, ErrorKind.REFUSED_NUMBER),
        ("from", 21210, ErrorKind.REFUSED_BUSINESS),
        ("from", 21205, ErrorKind.REFUSED_BUSINESS),
        ("from", 21299, ErrorKind.REFUSED_BUSINESS),  # unknown: never the number's fault
        ("to", 20005, ErrorKind.REFUSED_ACCOUNT),
    ],
)
def test_a_refusal_is_sorted_by_whose_fault_it_is(sim, refused, code, kind):
    sim.configure(numbers={("+14155550123" if refused == "to" else FROM): {"refuse": code}})
    with pytest.raises(TwilioError) as raised:
        create()
    assert (raised.value.kind, raised.value.code) == (kind, str(code))
    assert raised.value.permanent
    assert sim.calls() == []


def test_an_invalid_number_is_a_permanent_refusal_of_the_number(sim):
    with pytest.raises(TwilioError) as raised:
        create(to="12345")
    assert (raised.value.kind, raised.value.code) == (ErrorKind.REFUSED_NUMBER, "21211")
    assert raised.value.permanent
    assert sim.calls() == []


def test_bad_credentials_are_a_refusal_of_the_account(sim, settings):
    settings.TWILIO_AUTH_TOKEN = "rotated"
    with pytest.raises(TwilioError) as raised:
        create()
    assert (raised.value.kind, raised.value.code) == (ErrorKind.REFUSED_ACCOUNT, "20003")


def test_a_create_that_hangs_past_the_timeout_has_an_unknown_outcome(sim, settings):
    settings.TWILIO_HTTP_TIMEOUT_SECONDS = 0.5
    sim.configure(create_hang=1, hang_seconds=3)
    with pytest.raises(TwilioError) as raised:
        create()
    assert (raised.value.kind, raised.value.code) == (ErrorKind.UNKNOWN, "read-timeout")


def test_a_connection_that_cannot_be_opened_means_not_placed(sim, settings):
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TwilioError) as raised:
        create()
    assert (raised.value.kind, raised.value.code) == (ErrorKind.NOT_PLACED, "connection-refused")


def test_a_connection_dropped_after_sending_has_an_unknown_outcome(sim, settings):
    # A server that reads the request and closes without answering: the call may exist.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{server.getsockname()[1]}"
    import threading

    def drop():
        connection, _ = server.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=drop)
    thread.start()
    try:
        with pytest.raises(TwilioError) as raised:
            create()
    finally:
        thread.join()
        server.close()
    assert raised.value.kind is ErrorKind.UNKNOWN


def test_create_asks_for_async_machine_detection_only_when_given_its_callback(sim):
    detected = twilio_client.call_create(
        account=main_credentials(),
        to="+14155550123",
        from_=FROM,
        url="http://127.0.0.1:9/answer",
        status_callback="http://127.0.0.1:9/status",
        timeout=7,
        time_limit=60,
        machine_detection_callback="http://127.0.0.1:9/amd",
    )
    plain = create(to="+14155550124")

    records = {record["sid"]: record for record in sim.calls()}
    assert (
        records[detected]["machine_detection"],
        records[detected]["async_amd"],
        records[detected]["async_amd_status_callback"],
    ) == ("DetectMessageEnd", True, "http://127.0.0.1:9/amd")
    assert (records[plain]["machine_detection"], records[plain]["async_amd"]) == (None, False)


def test_update_replaces_what_a_live_call_plays(sim):
    receiver = Receiver()  # serves the answer URL's TwiML
    sim.configure(clock="manual")
    sid = twilio_client.call_create(
        account=main_credentials(),
        to="+14155550123",
        from_=FROM,
        url=f"{receiver.base_url}/answer",
        status_callback=f"{receiver.base_url}/status",
        timeout=7,
        time_limit=60,
    )
    sim.advance(2.5)  # answered; the script plays
    twiml = "<Response><Say>Call us back.</Say><Hangup/></Response>"

    seen = twilio_client.call_update(account=main_credentials(), sid=sid, twiml=twiml)
    receiver.stop()

    assert (seen.sid, seen.status) == (sid, "in-progress")
    played = sim.call(sid)["played"]
    assert [(e["source"], e["twiml"]) for e in played] == [
        ("answer_url", TWIML.decode()),
        ("update", twiml),
    ]


def test_updating_a_call_that_ended_is_refused_with_twilios_code(sim):
    sim.configure(clock="manual")
    sid = create()
    sim.advance(30)

    with pytest.raises(TwilioError) as error:
        twilio_client.call_update(
            account=main_credentials(), sid=sid, twiml="<Response><Hangup/></Response>"
        )
    assert error.value.code == "21220"


def test_a_fetched_call_carries_twilio_s_price_once_it_has_one(sim):
    receiver = Receiver()  # serves the answer URL's TwiML
    sim.configure(clock="manual", call_seconds=70, price_delay_seconds=30)
    sid = twilio_client.call_create(
        account=main_credentials(),
        to="+14155550123",
        from_=FROM,
        url=f"{receiver.base_url}/answer",
        status_callback=f"{receiver.base_url}/status",
        timeout=7,
        time_limit=600,
    )
    sim.advance(75)  # answered, talked 70 s, ended
    unpriced = twilio_client.call_fetch(account=main_credentials(), sid=sid)
    sim.advance(30)
    priced = twilio_client.call_fetch(account=main_credentials(), sid=sid)
    (listed,) = twilio_client.call_list(account=main_credentials(), to="+14155550123", from_=FROM)
    receiver.stop()

    assert (unpriced.status, unpriced.duration, unpriced.price) == ("completed", 70, None)
    assert (priced.price, priced.price_unit) == (Decimal("-0.02600"), "USD")
    assert (listed.price, listed.price_unit) == (Decimal("-0.02600"), "USD")
