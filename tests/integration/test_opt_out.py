"""Opt-out by keypress: a campaign that offers it wraps its script in a one-key <Gather>; the
signed key 9 lists the number on the business's do-not-call list, other keys are recorded."""

from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from calls import tasks
from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from calls.services.enqueue import EnqueueRefused, enqueue_outbound_call
from calls.services.erasure import number_erase
from calls.views import OPT_OUT_CONFIRMATION
from tests.recipes import NUMBER, make_call, sid

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def campaign(business):
    return baker.make(
        Campaign,
        business=business,
        name="spring",
        say_text="Spring sale!",
        voice="Polly.Amy",
        language="en-GB",
        offers_opt_out=True,
    )


@pytest.fixture
def call(business, campaign, fake_twilio):
    enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    tasks.dispatch(business.pk)
    return CallLog.objects.get()


def gather_path(call):
    return f"/twilio/calls/{call.public_id}/gather"


def test_the_answer_offers_the_opt_out_in_a_gather_posting_to_the_service(call, twilio_post):
    response = twilio_post(f"/twilio/calls/{call.public_id}/answer", {"CallSid": call.call_sid})
    assert response.status_code == 200
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Gather action="{BASE}{gather_path(call)}" method="POST" numDigits="1">'
        '<Say language="en-GB" voice="Polly.Amy">Spring sale!</Say>'
        '<Say language="en-GB" voice="Polly.Amy">To stop these calls, press 9.</Say>'
        "</Gather></Response>"
    )


def test_a_campaign_without_the_opt_out_has_no_gather(call, campaign, twilio_post):
    Campaign.objects.filter(pk=campaign.pk).update(offers_opt_out=False)
    response = twilio_post(f"/twilio/calls/{call.public_id}/answer", {"CallSid": call.call_sid})
    body = response.content.decode()
    assert "<Gather" not in body and "press 9" not in body
    assert "Spring sale!" in body


def test_pressing_9_lists_the_number_and_later_queuing_is_refused(
    business, campaign, call, twilio_post, fake_twilio, queue
):
    response = twilio_post(gather_path(call), {"CallSid": call.call_sid, "Digits": "9"})
    assert response.status_code == 200
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Say language="en-GB" voice="Polly.Amy">{OPT_OUT_CONFIRMATION}</Say><Hangup /></Response>'
    )
    row = DoNotCall.objects.get()
    assert (row.business, row.phone_number, row.source_call, row.created_by) == (
        business,
        NUMBER,
        call,
        None,
    )
    assert row.reason == f"opted out by keypress during call {call.call_sid}"
    call.refresh_from_db()
    assert call.digits == "9"
    # A second press (Twilio retrying the POST) keeps the one row.
    assert (
        twilio_post(gather_path(call), {"CallSid": call.call_sid, "Digits": "9"}).status_code == 200
    )
    assert DoNotCall.objects.count() == 1

    CallLog.objects.filter(pk=call.pk).update(status="completed")
    CallRequest.objects.update(status="done")
    queue()  # emptied
    other = baker.make(Campaign, business=business, name="summer")
    with pytest.raises(EnqueueRefused) as caught:
        enqueue_outbound_call(business=business, to_number=NUMBER, campaign=other)
    assert caught.value.code == EnqueueRefused.DO_NOT_CALL
    assert f"opted out by keypress during call {call.call_sid}" in str(caught.value)
    assert not other.requests.exists()
    assert len(fake_twilio.created) == 1  # the first call only


def test_a_forged_keypress_is_refused_and_lists_nothing(call, twilio_post):
    params = {"CallSid": call.call_sid, "Digits": "9"}
    response = twilio_post(gather_path(call), params, signature="forged")
    assert response.status_code == 403
    assert not DoNotCall.objects.exists()
    call.refresh_from_db()
    assert call.digits == ""


@pytest.mark.parametrize("digits", ["1", "#", "*", "0"])
def test_another_key_is_recorded_and_the_call_ends(call, twilio_post, digits):
    response = twilio_post(gather_path(call), {"CallSid": call.call_sid, "Digits": digits})
    assert response.status_code == 200
    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
    )
    call.refresh_from_db()
    assert call.digits == digits
    assert not DoNotCall.objects.exists()


HANG_UP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'


def assert_refused(call, response):
    assert response.status_code == 200
    assert response.content.decode() == HANG_UP
    assert not DoNotCall.objects.exists()
    call.refresh_from_db()
    assert call.digits == ""


def test_a_keypress_carrying_another_call_s_sid_is_refused(call, twilio_post):
    response = twilio_post(gather_path(call), {"CallSid": sid(99), "Digits": "9"})
    assert_refused(call, response)


def test_a_keypress_on_an_inbound_call_is_refused(business, twilio_post):
    inbound = make_call(business, direction="inbound", call_sid=sid(7), status="in-progress")
    response = twilio_post(gather_path(inbound), {"CallSid": sid(7), "Digits": "9"})
    assert_refused(inbound, response)


def test_a_keypress_replayed_after_the_call_ended_is_refused(call, twilio_post):
    """A business removed a number the person asked to be called on again: a captured opt-out
    replayed later must not list it again."""
    ended = timezone.now() - timedelta(minutes=10)
    CallLog.objects.filter(pk=call.pk).update(status="completed", ended_at=ended)
    response = twilio_post(gather_path(call), {"CallSid": call.call_sid, "Digits": "9"})
    assert_refused(call, response)


def test_a_keypress_racing_the_end_of_its_call_still_opts_out(call, twilio_post):
    CallLog.objects.filter(pk=call.pk).update(status="completed", ended_at=timezone.now())
    response = twilio_post(gather_path(call), {"CallSid": call.call_sid, "Digits": "9"})
    assert OPT_OUT_CONFIRMATION in response.content.decode()
    assert DoNotCall.objects.filter(phone_number=NUMBER, source_call=call).exists()


def test_an_unknown_call_is_not_found(db, twilio_post):
    path = "/twilio/calls/00000000-0000-0000-0000-000000000000/gather"
    response = twilio_post(path, {"CallSid": sid(1), "Digits": "9"})
    assert response.status_code == 404
    assert not DoNotCall.objects.exists()


@pytest.mark.parametrize(
    "params",
    [
        {"Digits": "9"},
        {"CallSid": "CA-bad", "Digits": "9"},
        {"CallSid": sid(1), "Digits": "9a"},
        {"CallSid": sid(1), "Digits": "９"},
        {"CallSid": sid(1), "Digits": "1" * 33},
    ],
)
def test_a_malformed_body_is_refused_and_nothing_recorded(call, twilio_post, params):
    response = twilio_post(gather_path(call), params)
    assert response.status_code == 400
    assert not DoNotCall.objects.exists()
    call.refresh_from_db()
    assert call.digits == ""


def test_an_opt_out_from_an_erased_number_records_the_key_but_lists_nothing(business, twilio_post):
    # Ended a moment ago (the callee pressed 9 and hung up), and erased meanwhile.
    call = make_call(business, call_sid=sid(5), status="completed", ended_at=timezone.now())
    number_erase(business_id=business.pk, number=NUMBER, via="command")
    response = twilio_post(gather_path(call), {"CallSid": sid(5), "Digits": "9"})
    assert response.status_code == 200
    assert OPT_OUT_CONFIRMATION in response.content.decode()
    assert not DoNotCall.objects.exists()
    call.refresh_from_db()
    assert call.digits == "9"


def test_a_manager_turns_the_opt_out_on_with_its_own_prompt(
    member_client, business, campaign, call, twilio_post
):
    Campaign.objects.filter(pk=campaign.pk).update(offers_opt_out=False)
    client = member_client((business, "manager"))
    form = {
        "name": "spring",
        "concurrency": "",
        "say_text": "Spring sale!",
        "voice": "",
        "language": "",
        "recording_url": "",
        "offers_opt_out": "on",
        "opt_out_prompt": "Press 9 and we stop.",
    }
    response = client.post(f"/admin/calls/campaign/{campaign.pk}/change/", form)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.offers_opt_out, campaign.opt_out_prompt) == (True, "Press 9 and we stop.")
    answer = twilio_post(f"/twilio/calls/{call.public_id}/answer", {"CallSid": call.call_sid})
    body = answer.content.decode()
    assert f'<Gather action="{BASE}{gather_path(call)}"' in body
    assert "<Say>Press 9 and we stop.</Say></Gather>" in body


def test_an_empty_prompt_says_the_default_one(call, campaign, twilio_post):
    Campaign.objects.filter(pk=campaign.pk).update(opt_out_prompt="")
    response = twilio_post(f"/twilio/calls/{call.public_id}/answer", {"CallSid": call.call_sid})
    assert "To stop these calls, press 9.</Say></Gather>" in response.content.decode()
