"""A business on its own Twilio account: every request about its calls goes out under that
account, and only that account's signed requests may act on its calls."""

import pytest

from calls import tasks
from calls.models import Business, CallEvent, CallLog, CallRequest, DialingControl
from calls.services.enqueue import enqueue_outbound_call
from calls.twilio_client import ErrorKind, TwilioError
from tests.recipes import ACCOUNT_SID, NUMBER, callback, make_call, sid, sign, twilio_call
from twilio_accounts.credentials import Credentials
from twilio_accounts.models import TwilioAccount

SUB_SID, SUB_TOKEN = "AC" + "a" * 32, "a1" * 16
OTHER_SID, OTHER_TOKEN = "AC" + "b" * 32, "b2" * 16
CALL_SID = sid("c")


@pytest.fixture
def sub(db):
    return TwilioAccount.objects.create(
        account_sid=SUB_SID, auth_token=SUB_TOKEN, previous_auth_token="p" + SUB_TOKEN
    )


@pytest.fixture
def other(db):
    return TwilioAccount.objects.create(account_sid=OTHER_SID, auth_token=OTHER_TOKEN)


@pytest.fixture
def tenant(sub):
    return Business.objects.create(
        name="Tenant", phone_number="+14155550300", twilio_account=sub, max_concurrent_calls=2
    )


def test_a_business_on_a_subaccount_dials_under_its_credentials(
    tenant, business, fake_twilio, settings
):
    enqueue_outbound_call(business=tenant, to_number=NUMBER)
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(tenant.pk)
    tasks.dispatch(business.pk)
    assert fake_twilio.accounts == [
        Credentials(SUB_SID, SUB_TOKEN),
        Credentials(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
    ]
    accounts = dict(CallLog.objects.values_list("business_id", "twilio_account_id"))
    assert accounts == {tenant.pk: tenant.twilio_account_id, business.pk: None}


def test_hang_ups_and_reconciles_go_to_the_account_the_call_was_placed_through(
    tenant, other, fake_twilio
):
    enqueue_outbound_call(business=tenant, to_number=NUMBER)
    tasks.dispatch(tenant.pk)
    call = CallLog.objects.get()
    # Moved to another account while the call is live: its requests still go to the first.
    Business.objects.filter(pk=tenant.pk).update(twilio_account=other)
    fake_twilio.accounts.clear()
    fake_twilio.calls[call.call_sid] = twilio_call(call.call_sid, "ringing")
    tasks.reconcile_call(call.pk)
    tasks.hang_up_call(call.pk)
    assert (fake_twilio.fetched, fake_twilio.hung_up) == ([call.call_sid], [call.call_sid])
    assert fake_twilio.accounts == [Credentials(SUB_SID, SUB_TOKEN)] * 2


def test_a_subaccount_twilio_refuses_pauses_that_account_alone(tenant, business, fake_twilio):
    fake_twilio.create_error = TwilioError(
        kind=ErrorKind.REFUSED_ACCOUNT, code="20003", message="Authenticate"
    )
    enqueue_outbound_call(business=tenant, to_number=NUMBER)
    tasks.dispatch(tenant.pk)
    tenant.refresh_from_db()
    tenant.twilio_account.refresh_from_db()
    assert "20003" in tenant.twilio_account.paused_reason
    assert not tenant.can_dial
    assert not DialingControl.get().paused
    assert CallRequest.objects.get(business=tenant).status == "queued"
    fake_twilio.create_error = None
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    tasks.dispatch(tenant.pk)
    assert len(fake_twilio.created) == 2  # the main account's business dialed; the tenant waits


def test_the_account_cap_holds_across_its_businesses(sub, fake_twilio):
    sub.max_concurrent_calls = 3
    sub.save()
    first, second = (
        Business.objects.create(
            name=f"B{n}", phone_number=f"+1415555040{n}", twilio_account=sub, max_concurrent_calls=3
        )
        for n in (1, 2)
    )
    for business in (first, second):
        for n in range(3):
            enqueue_outbound_call(business=business, to_number=f"+1415555050{n}")
        tasks.dispatch(business.pk)
    live = CallLog.objects.filter(twilio_account=sub, status__in=CallLog.LIVE_STATUSES)
    assert live.count() == 3
    assert fake_twilio.accounts == [Credentials(SUB_SID, SUB_TOKEN)] * 3


# --- webhooks: verified with the token of the account their AccountSid names


def callback_of(account_sid):
    return callback(CALL_SID, "completed", 3, AccountSid=account_sid)


@pytest.fixture
def placed(tenant):
    return make_call(tenant, call_sid=CALL_SID, status="ringing")


def post(client, path, params, token):
    from urllib.parse import urlencode

    return client.post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=sign(path, params, token),
    )


def unchanged(call):
    call.refresh_from_db()
    return call.status == "ringing" and not CallEvent.objects.exists()


@pytest.mark.parametrize("token", [SUB_TOKEN, "p" + SUB_TOKEN])
def test_a_callback_signed_by_the_call_s_account_is_applied(client, placed, token):
    path = f"/twilio/calls/{placed.public_id}/status"
    response = post(client, path, callback_of(SUB_SID), token)
    assert response.status_code == 204
    placed.refresh_from_db()
    assert placed.status == "completed"


@pytest.mark.parametrize(
    "account_sid, token",
    [
        (ACCOUNT_SID, "main"),  # the main account, signed with its own token
        (SUB_SID, "main"),  # the call's account named, signed with another's token
        (OTHER_SID, OTHER_TOKEN),  # another tenant's account, signed with its own token
        ("AC" + "f" * 32, OTHER_TOKEN),  # an account unknown here
    ],
)
@pytest.mark.parametrize("endpoint", ["status", "answer", "amd", "gather"])
def test_a_request_from_another_account_is_refused_and_changes_nothing(
    client, placed, other, settings, account_sid, token, endpoint, queue
):
    token = settings.TWILIO_AUTH_TOKEN if token == "main" else token
    params = {
        "status": callback_of(account_sid),
        "answer": {"CallSid": CALL_SID, "AccountSid": account_sid, "CallStatus": "in-progress"},
        "amd": {"CallSid": CALL_SID, "AccountSid": account_sid, "AnsweredBy": "machine_start"},
        "gather": {"CallSid": CALL_SID, "AccountSid": account_sid, "Digits": "9"},
    }[endpoint]
    response = post(client, f"/twilio/calls/{placed.public_id}/{endpoint}", params, token)
    assert response.status_code == 403
    assert unchanged(placed)
    placed.refresh_from_db()
    assert (placed.answered_by, placed.machine_update_at) == ("", None)
    assert queue() == []


def test_a_callback_located_by_sid_from_another_account_is_refused(client, placed, settings):
    params = callback_of(ACCOUNT_SID)
    response = post(client, "/twilio/voice/status", params, settings.TWILIO_AUTH_TOKEN)
    assert response.status_code == 403
    assert unchanged(placed)
    response = post(client, "/twilio/voice/status", callback_of(SUB_SID), SUB_TOKEN)
    assert response.status_code == 204
    placed.refresh_from_db()
    assert placed.status == "completed"


def test_the_main_account_s_calls_refuse_a_subaccount_s_requests(client, business, sub):
    call = make_call(business, call_sid=CALL_SID, status="ringing")
    path = f"/twilio/calls/{call.public_id}/status"
    assert post(client, path, callback_of(SUB_SID), SUB_TOKEN).status_code == 403
    assert unchanged(call)


def test_an_inbound_call_to_a_tenant_s_number_from_another_account_is_refused(
    client, tenant, settings
):
    params = {
        "CallSid": CALL_SID,
        "AccountSid": ACCOUNT_SID,
        "From": NUMBER,
        "To": tenant.phone_number,
        "CallStatus": "ringing",
    }
    path = "/twilio/voice/incoming"
    assert post(client, path, params, settings.TWILIO_AUTH_TOKEN).status_code == 403
    assert not CallLog.objects.exists()
    params["AccountSid"] = SUB_SID
    assert post(client, path, params, SUB_TOKEN).status_code == 200
    assert CallLog.objects.get().twilio_account_id == tenant.twilio_account_id


def test_resuming_a_paused_account_clears_it_and_nudges_its_businesses(
    tenant, business, queue, django_capture_on_commit_callbacks
):
    from calls.services.pauses import twilio_account_resume

    TwilioAccount.objects.filter(pk=tenant.twilio_account_id).update(paused_reason="20003")
    with django_capture_on_commit_callbacks(execute=True):
        assert twilio_account_resume(account_id=tenant.twilio_account_id)
    assert TwilioAccount.objects.get(pk=tenant.twilio_account_id).paused_reason == ""
    assert queue() == [("calls.tasks.dispatch", (tenant.pk,))]
    assert not twilio_account_resume(account_id=tenant.twilio_account_id)  # not paused now


@pytest.mark.parametrize("account_sid", ["AC\x00" + "a" * 31, "not-a-sid", "AC" + "a" * 33])
def test_an_account_sid_that_is_not_one_is_refused_without_a_lookup(client, placed, account_sid):
    params = callback_of(account_sid)
    response = post(client, f"/twilio/calls/{placed.public_id}/status", params, SUB_TOKEN)
    assert response.status_code == 403
    assert unchanged(placed)
