"""Rotating the Twilio auth token: until TWILIO_AUTH_TOKEN_PREVIOUS is removed, webhooks signed
with either token are accepted, and only those."""

from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from twilio.request_validator import RequestValidator

from calls.models import CallEvent
from tests.recipes import callback, make_call, sid

SID = sid("b")
STATUS_URL = "/twilio/voice/status"
CURRENT = "0123456789abcdef0123456789abcdef"
PREVIOUS = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def rotating(settings, business):
    settings.TWILIO_AUTH_TOKEN = CURRENT
    settings.TWILIO_AUTH_TOKEN_PREVIOUS = PREVIOUS
    return make_call(business, direction="inbound", call_sid=SID, status="ringing")


def post_signed_with(client, token):
    params = callback(SID, "completed", 1)
    signature = RequestValidator(token).compute_signature(
        django_settings.PUBLIC_BASE_URL + STATUS_URL, params
    )
    return client.post(
        STATUS_URL,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )


@pytest.mark.parametrize("token", [CURRENT, PREVIOUS])
def test_a_webhook_signed_with_either_token_is_accepted(client, rotating, token):
    assert post_signed_with(client, token).status_code == 204
    rotating.refresh_from_db()
    assert rotating.status == "completed"


@pytest.mark.parametrize("token", ["0" * 32, "dev-auth-token", ""])
def test_a_webhook_signed_with_any_other_token_is_refused(client, rotating, token):
    assert post_signed_with(client, token).status_code == 403
    rotating.refresh_from_db()
    assert rotating.status == "ringing"
    assert not CallEvent.objects.exists()


def test_once_the_previous_token_is_removed_it_is_refused(client, rotating, settings):
    settings.TWILIO_AUTH_TOKEN_PREVIOUS = ""
    assert post_signed_with(client, PREVIOUS).status_code == 403
    assert post_signed_with(client, CURRENT).status_code == 204
