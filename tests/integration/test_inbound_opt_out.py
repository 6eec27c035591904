"""The business's opt-out menu on calls to its number (issue 21, revocation by any channel): a
caller who presses 9 has the number's consents revoked, is listed on the business's do-not-call
list and has every queued call to it canceled, as every other channel does."""

import pytest

from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from calls.services.enqueue import enqueue_outbound_call
from compliance.models import ConsentRecord
from tests.recipes import consent_on_file

INCOMING = "/twilio/voice/incoming"
CALLER = "+14155550199"
SID = "CA" + "b" * 32


def incoming(business, *, caller=CALLER, sid=SID):
    return {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": business.phone_number,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def menu_path(call):
    return f"/twilio/calls/{call.public_id}/opt-out-menu"


@pytest.fixture
def menu(business):
    business.inbound_opt_out_menu = True
    business.save()
    return business


@pytest.fixture
def waiting(menu):
    """A consent of the caller to telemarketing, and a call queued to them on its strength."""
    consent_on_file(menu, CALLER)
    sales = Campaign.objects.create(business=menu, name="sales", purpose="telemarketing")
    return enqueue_outbound_call(business=menu, to_number=CALLER, campaign=sales)


def test_without_the_menu_a_call_is_thanked_and_offered_no_key(twilio_post, business):
    body = twilio_post(INCOMING, incoming(business)).content.decode()
    assert "<Gather" not in body and "We will call you back shortly." in body


def test_the_menu_offers_the_opt_out_key_and_posts_it_to_the_call_s_own_address(
    twilio_post, menu, settings
):
    body = twilio_post(INCOMING, incoming(menu)).content.decode()
    call = CallLog.objects.get()
    action = f"{settings.PUBLIC_BASE_URL}{menu_path(call)}"
    assert f'<Gather action="{action}" numDigits="1" timeout="8">' in body
    assert f"To stop all calls from {menu.name}, press 9." in body


def test_pressing_9_revokes_lists_and_cancels_in_one_step(twilio_post, menu, waiting):
    twilio_post(INCOMING, incoming(menu))
    call = CallLog.objects.get(direction="inbound")
    response = twilio_post(
        menu_path(call), {"CallSid": SID, "Digits": "9", "AccountSid": "AC" + "0" * 32}
    )
    assert response.status_code == 200
    assert f"{menu.name} will not call you again." in response.content.decode()
    consent = ConsentRecord.objects.get()
    assert (consent.revoked_via, consent.revoked_at is not None) == ("inbound_call", True)
    listed = DoNotCall.objects.get(business=menu, phone_number=CALLER)
    assert listed.source_call == call
    waiting.refresh_from_db()
    assert waiting.status == CallRequest.Status.CANCELED
    assert waiting.last_error.startswith("On the do-not-call list")


@pytest.mark.parametrize(
    "digits, sid",
    [("1", SID), ("", SID), ("9", "CA" + "c" * 32)],
    ids=["another key", "no key", "another call's SID"],
)
def test_anything_but_this_call_s_9_changes_nothing(twilio_post, menu, waiting, digits, sid):
    twilio_post(INCOMING, incoming(menu))
    call = CallLog.objects.get(direction="inbound")
    params = {"CallSid": sid, "Digits": digits, "AccountSid": "AC" + "0" * 32}
    response = twilio_post(menu_path(call), params)
    assert response.status_code == 200
    assert "We will call you back shortly. Goodbye." in response.content.decode()
    assert ConsentRecord.objects.get().revoked_at is None
    assert not DoNotCall.objects.exists()
    waiting.refresh_from_db()
    assert waiting.status == CallRequest.Status.QUEUED


def test_a_withheld_number_cannot_be_listed_and_is_told_politely(twilio_post, menu):
    twilio_post(INCOMING, incoming(menu, caller="+266696687"))  # Twilio's "anonymous"
    call = CallLog.objects.get(direction="inbound")
    params = {"CallSid": SID, "Digits": "9", "AccountSid": "AC" + "0" * 32}
    response = twilio_post(menu_path(call), params)
    assert response.status_code == 200
    assert "Goodbye." in response.content.decode()
    assert not DoNotCall.objects.exists()


def test_a_forged_key_press_is_refused(twilio_post, menu, waiting):
    twilio_post(INCOMING, incoming(menu))
    call = CallLog.objects.get(direction="inbound")
    params = {"CallSid": SID, "Digits": "9", "AccountSid": "AC" + "0" * 32}
    assert twilio_post(menu_path(call), params, signature="forged").status_code == 403
    assert not DoNotCall.objects.exists()
