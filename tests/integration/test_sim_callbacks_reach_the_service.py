"""A callback signed by the local Twilio passes the service's own check; tampered, it gets 403."""

import time
from urllib.parse import urlencode

import pytest

from calls.models import CallEvent
from tests.recipes import make_call
from twilio_sim.control import SimControl
from twilio_sim.server import Simulator
from twilio_sim.tests.peers import ACCOUNT_SID, AUTH_TOKEN, Api, Receiver


@pytest.fixture
def captured_callbacks():
    receiver = Receiver()
    with Simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, port=0, speed=20) as sim:
        SimControl(sim.base_url).reset()
        yield Api(sim.base_url, receiver.base_url), receiver
    receiver.stop()


def replay(client, request, params):
    return client.post(
        request["path"],
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=request["signature"],
    )


def test_a_simulator_callback_passes_the_signature_check_and_a_tampered_one_does_not(
    client, business, settings, captured_callbacks
):
    api, receiver = captured_callbacks
    path = "/twilio/voice/status"
    sid = api.create("+15551110001", StatusCallback=receiver.base_url + path).json()["sid"]
    deadline = time.monotonic() + 5
    while not (sent := [r for r in receiver.requests if r["path"] == path]):
        assert time.monotonic() < deadline, "no callback from the simulator"
        time.sleep(0.02)
    request = sent[0]
    assert request["params"]["CallSid"] == sid
    # The service sees itself at the receiver's address, as Twilio sees it.
    settings.PUBLIC_BASE_URL = receiver.base_url
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, AUTH_TOKEN
    call = make_call(business, call_sid=sid, status="queued")
    initiated = request

    tampered = {**initiated["params"], "CallStatus": "completed"}
    assert replay(client, request, tampered).status_code == 403
    call.refresh_from_db()
    assert call.status == "queued"

    assert replay(client, request, initiated["params"]).status_code == 204
    call.refresh_from_db()
    assert call.status == "initiated"
    assert CallEvent.objects.get().sequence_number == 0
