"""While the database cannot be reached, requests answer 503 (Twilio retries, nothing half-done),
never a 500 with a traceback."""

from contextlib import contextmanager

import pytest
from django.db import connection

from calls.models import CallEvent, CallLog
from tests.e2e.live_stack import free_port
from tests.recipes import callback, make_call, sid

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SID = sid("c")


@contextmanager
def unreachable_database():
    """The default database unreachable: its connection closed and pointed where nothing listens."""
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    connection.close()
    settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        settings_dict.update(saved)


@pytest.fixture
def database_down(business):
    with unreachable_database():
        yield


@pytest.fixture
def call(business):
    return make_call(business, call_sid=SID, status="ringing")


@pytest.mark.parametrize("path", ["/twilio/voice/status", "/twilio/calls/{public_id}/status"])
def test_a_status_callback_gets_503_with_retry_after(twilio_post, call, database_down, path):
    response = twilio_post(path.format(public_id=call.public_id), callback(SID, "completed", 3))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "text/plain"
    assert b"Traceback" not in response.content


def test_an_incoming_call_gets_503(twilio_post, business, database_down):
    params = {"CallSid": SID, "From": "+14155550199", "To": business.phone_number}
    assert twilio_post("/twilio/voice/incoming", params).status_code == 503


def test_health_says_which_check_failed(client, database_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


def test_nothing_was_stored_once_the_database_is_back(twilio_post, call):
    with unreachable_database():
        assert twilio_post("/twilio/voice/status", callback(SID, "busy", 3)).status_code == 503
    call.refresh_from_db()
    assert call.status == "ringing"
    assert not CallEvent.objects.exists()
    assert twilio_post("/twilio/voice/status", callback(SID, "busy", 3)).status_code == 204
    assert CallLog.objects.get().status == "busy"
