"""`twilio_subaccount_create` against the local Twilio over real HTTP, and what a business on its
subaccount then sends: creates under /Accounts/<its SID>/ with its credentials, callbacks signed
with its token. And what the admin shows of an account (never its token)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from calls import tasks
from calls.models import Business, CallLog
from calls.services.enqueue import enqueue_outbound_call
from tests.integration.test_twilio_client import SID, TOKEN
from tests.recipes import NUMBER
from twilio_accounts.models import TwilioAccount
from twilio_sim.control import SimControl
from twilio_sim.server import Simulator


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
    # Callbacks go nowhere (a closed port): this test reads Twilio's side only.
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    control = SimControl(simulator.base_url)
    control.reset()
    return control


def create_for(business, *args):
    out = io.StringIO()
    call_command("twilio_subaccount_create", "--business", str(business.pk), *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_creates_a_subaccount_stores_it_and_prints_its_sid_last(sim, business):
    lines = create_for(business, "--calls-per-second", "2")
    (created,) = [a for a in sim.accounts() if a["sid"] != SID]
    assert lines[-1] == created["sid"]
    assert (created["friendly_name"], created["owner_account_sid"]) == (business.name, SID)
    account = TwilioAccount.objects.get()
    assert (account.account_sid, account.auth_token) == (created["sid"], created["auth_token"])
    assert account.calls_per_second == 2
    business.refresh_from_db()
    assert business.twilio_account == account
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM twilio_accounts_twilioaccount")
        assert created["auth_token"] not in cursor.fetchone()[0]


def test_creates_of_a_business_on_its_subaccount_reach_twilio_under_that_account(
    sim, business, rival
):
    create_for(business)
    account = TwilioAccount.objects.get()
    enqueue_outbound_call(business=business, to_number=NUMBER)
    enqueue_outbound_call(business=rival, to_number=NUMBER)
    tasks.dispatch(business.pk)
    tasks.dispatch(rival.pk)
    records = {r["from"]: r for r in sim.calls()}
    assert records[business.phone_number]["account_sid"] == account.account_sid
    assert records[rival.phone_number]["account_sid"] == SID
    assert sim.stats()["create_requests_by_account"] == {account.account_sid: 1, SID: 1}
    ours = CallLog.objects.get(business=business)
    assert ours.call_sid == records[business.phone_number]["sid"]
    # Fetched back through the subaccount (the sim answers 404 on any other account's path).
    ended = sim.wait_for_end(ours.call_sid)
    tasks.reconcile_call(ours.pk)
    ours.refresh_from_db()
    assert ours.status == ended["status"]
    assert ours.status in CallLog.TERMINAL_STATUSES


def test_a_business_already_on_an_account_gets_no_second_one(sim, business):
    create_for(business)
    with pytest.raises(CommandError, match="already on Twilio account"):
        create_for(business)
    assert len(sim.accounts()) == 2


def test_an_unknown_business_is_refused_before_twilio_is_asked(sim, db):
    with pytest.raises(CommandError, match="No business with id 999"):
        call_command("twilio_subaccount_create", "--business", "999")
    assert len(sim.accounts()) == 1


def test_twilio_refusing_the_subaccount_stores_nothing(sim, business, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    with pytest.raises(CommandError, match="Twilio refused the subaccount"):
        create_for(business)
    assert not TwilioAccount.objects.exists()
    business.refresh_from_db()
    assert business.twilio_account is None


# --- closing a business's subaccount


def close_for(business):
    out = io.StringIO()
    call_command("twilio_subaccount_close", "--business", str(business.pk), stdout=out)
    return out.getvalue().splitlines()


def sim_status(sim, sid):
    (account,) = [a for a in sim.accounts() if a["sid"] == sid]
    return account["status"]


def test_closing_a_deactivated_business_closes_its_subaccount_at_twilio(sim, business):
    create_for(business)
    account = TwilioAccount.objects.get()
    Business.objects.filter(pk=business.pk).update(is_active=False)
    lines = close_for(business)
    assert lines[-1] == account.account_sid
    assert sim_status(sim, account.account_sid) == "closed"
    assert sim_status(sim, SID) == "active"
    account.refresh_from_db()
    assert account.status == TwilioAccount.Status.CLOSED
    assert not account.can_dial
    # A second close is refused before Twilio is asked.
    with pytest.raises(CommandError, match="already closed"):
        close_for(business)


def test_an_account_other_businesses_still_use_is_not_closed(sim, business, rival):
    create_for(business)
    account = TwilioAccount.objects.get()
    Business.objects.filter(pk=rival.pk).update(twilio_account=account)
    Business.objects.filter(pk=business.pk).update(is_active=False)
    with pytest.raises(CommandError, match="still used by other businesses: Rival Roofing"):
        close_for(business)
    assert sim_status(sim, account.account_sid) == "active"
    account.refresh_from_db()
    assert account.status == TwilioAccount.Status.ACTIVE


def test_the_main_account_and_an_active_business_are_never_closed(sim, business, rival):
    Business.objects.filter(pk=rival.pk).update(is_active=False)
    with pytest.raises(CommandError, match="main account, which is never closed"):
        close_for(rival)
    main = TwilioAccount.objects.create(account_sid=SID, auth_token=TOKEN)
    Business.objects.filter(pk=rival.pk).update(twilio_account=main)
    with pytest.raises(CommandError, match="main account, which is never closed"):
        close_for(rival)
    create_for(business)
    with pytest.raises(CommandError, match="is active: deactivate it first"):
        close_for(business)
    assert {a["status"] for a in sim.accounts()} == {"active"}


def test_an_account_with_a_live_call_is_not_closed(sim, business):
    create_for(business)
    account = TwilioAccount.objects.get()
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    assert CallLog.objects.get().status in CallLog.LIVE_STATUSES
    Business.objects.filter(pk=business.pk).update(is_active=False)
    with pytest.raises(CommandError, match="has 1 live call"):
        close_for(business)
    assert sim_status(sim, account.account_sid) == "active"


def test_twilio_refusing_the_close_records_nothing(sim, business, settings):
    create_for(business)
    account = TwilioAccount.objects.get()
    Business.objects.filter(pk=business.pk).update(is_active=False)
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    with pytest.raises(CommandError, match="Twilio refused to close the subaccount"):
        close_for(business)
    account.refresh_from_db()
    assert account.status == TwilioAccount.Status.ACTIVE
    assert sim_status(sim, account.account_sid) == "active"


# --- the admin


@pytest.fixture
def tenant(db):
    account = TwilioAccount.objects.create(
        account_sid="AC" + "c" * 32, auth_token="secret-token-xyz", friendly_name="Tenant sub"
    )
    return Business.objects.create(
        name="Tenant", phone_number="+14155550300", twilio_account=account
    )


def test_a_manager_sees_the_business_s_account_never_its_token(member_client, tenant):
    client = member_client((tenant, "manager"))
    page = client.get(f"/admin/calls/business/{tenant.pk}/change/").content.decode()
    assert "Tenant sub (AC" + "c" * 32 + ")" in page
    assert "secret-token-xyz" not in page
    assert client.get("/admin/twilio_accounts/twilioaccount/").status_code in (302, 403)


def test_a_manager_cannot_move_the_business_to_another_account(member_client, tenant):
    other = TwilioAccount.objects.create(account_sid="AC" + "d" * 32, auth_token="t")
    client = member_client((tenant, "manager"))
    client.post(
        f"/admin/calls/business/{tenant.pk}/change/",
        {"name": tenant.name, "twilio_account": other.pk},
    )
    tenant.refresh_from_db()
    assert tenant.twilio_account.account_sid == "AC" + "c" * 32


def test_a_superuser_s_account_page_never_shows_the_token_and_keeps_it_when_left_empty(
    admin_client, tenant
):
    account = tenant.twilio_account
    url = f"/admin/twilio_accounts/twilioaccount/{account.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "secret-token-xyz" not in page
    response = admin_client.post(
        url,
        {
            "friendly_name": "Renamed",
            "account_sid": account.account_sid,
            "auth_token": "",
            "previous_auth_token": "",
            "calls_per_second": "3",
            "max_concurrent_calls": "",
            "status": "active",
            "paused_reason": "",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.friendly_name, account.calls_per_second) == ("Renamed", 3)
    assert account.auth_token == "secret-token-xyz"


def close_by_admin(admin_client, *businesses):
    return admin_client.post(
        "/admin/calls/business/",
        {
            "action": "close_twilio_subaccount",
            "_selected_action": [b.pk for b in businesses],
            "post": "yes",
        },
        follow=True,
    )


def test_a_superuser_closes_a_deactivated_business_s_subaccount_from_the_admin(
    sim, admin_client, business, rival
):
    create_for(business)
    account = TwilioAccount.objects.get()
    Business.objects.filter(pk=business.pk).update(is_active=False)
    # Asked first, with what it does; nothing is closed by the question.
    question = admin_client.post(
        "/admin/calls/business/",
        {"action": "close_twilio_subaccount", "_selected_action": [business.pk]},
    )
    assert "releases their numbers" in question.content.decode()
    assert sim_status(sim, account.account_sid) == "active"
    page = close_by_admin(admin_client, business, rival).content.decode()
    assert "1 subaccount closed at Twilio; 1 stayed open (" in page
    assert "Rival Roofing dials through the main account" in page
    assert sim_status(sim, account.account_sid) == "closed"
    account.refresh_from_db()
    assert account.status == TwilioAccount.Status.CLOSED


def test_the_admin_s_close_keeps_an_active_business_s_subaccount_open(sim, admin_client, business):
    create_for(business)
    account = TwilioAccount.objects.get()
    page = close_by_admin(admin_client, business).content.decode()
    assert "0 subaccounts closed at Twilio: the selected subaccount stayed open" in page
    assert "deactivate it first" in page
    assert sim_status(sim, account.account_sid) == "active"


def test_a_manager_is_not_offered_the_close(sim, member_client, business):
    create_for(business)
    account = TwilioAccount.objects.get()
    Business.objects.filter(pk=business.pk).update(is_active=False)
    client = member_client((business, "manager"))
    assert "close_twilio_subaccount" not in client.get("/admin/calls/business/").content.decode()
    close_by_admin(client, business)
    assert sim_status(sim, account.account_sid) == "active"
    account.refresh_from_db()
    assert account.status == TwilioAccount.Status.ACTIVE
