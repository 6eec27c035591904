"""The simulator's Accounts API and what belongs to each account: its credentials, calls,
calls-per-second queue and the token its callbacks are signed with."""

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from twilio_sim.control import SimControl
from twilio_sim.server import Simulator
from twilio_sim.tests.peers import ACCOUNT_SID, ALL_EVENTS, AUTH_TOKEN, FROM, Receiver


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def simulator():
    sim = Simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, port=0, speed=20, cps=2)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def control(simulator, receiver):
    control = SimControl(simulator.base_url)
    control.reset()
    receiver.clear()
    return control


def client_of(simulator, sid, token):
    client = Client(sid, token)
    client.api.base_url = simulator.base_url
    return client


@pytest.fixture
def main(simulator, control):
    return client_of(simulator, ACCOUNT_SID, AUTH_TOKEN)


def create(client, receiver, to="+15551110007"):
    return client.calls.create(
        to=to,
        from_=FROM,
        url=f"{receiver.base_url}/answer",
        status_callback=f"{receiver.base_url}/status",
        status_callback_event=ALL_EVENTS,
    )


def test_the_main_account_creates_fetches_and_closes_a_subaccount(main, control):
    created = main.api.v2010.accounts.create(friendly_name="Acme Plumbing")
    assert created.sid.startswith("AC") and len(created.sid) == 34
    assert (created.friendly_name, created.status) == ("Acme Plumbing", "active")
    assert created.owner_account_sid == ACCOUNT_SID and created.auth_token
    assert main.api.v2010.accounts(created.sid).fetch().status == "active"
    closed = main.api.v2010.accounts(created.sid).update(status="closed")
    assert closed.status == "closed"
    with pytest.raises(TwilioRestException) as reopened:
        main.api.v2010.accounts(created.sid).update(status="active")
    assert reopened.value.status == 400
    assert [a["sid"] for a in control.accounts()] == [ACCOUNT_SID, created.sid]


def test_a_subaccount_s_calls_are_its_own_and_signed_with_its_token(
    simulator, main, control, receiver
):
    sub = main.api.v2010.accounts.create(friendly_name="Tenant")
    tenant = client_of(simulator, sub.sid, sub.auth_token)
    call = create(tenant, receiver)
    assert call.account_sid == sub.sid
    (callback, *_) = receiver.wait_for_callbacks(call.sid, 1)
    assert callback["params"]["AccountSid"] == sub.sid
    assert RequestValidator(sub.auth_token).validate(
        callback["url"], callback["params"], callback["signature"]
    )
    assert not RequestValidator(AUTH_TOKEN).validate(
        callback["url"], callback["params"], callback["signature"]
    )
    # The main account's own calls do not list it, and its path does not reach it.
    assert main.calls.list(to="+15551110007") == []
    with pytest.raises(TwilioRestException) as elsewhere:
        main.calls(call.sid).fetch()
    assert elsewhere.value.status == 404
    # The owner reaches the subaccount's resources, as on Twilio.
    assert main.api.v2010.accounts(sub.sid).calls(call.sid).fetch().sid == call.sid
    assert control.call(call.sid)["account_sid"] == sub.sid


def test_one_subaccount_s_credentials_never_reach_another_s(simulator, main, receiver):
    first = main.api.v2010.accounts.create(friendly_name="First")
    second = main.api.v2010.accounts.create(friendly_name="Second")
    as_first = client_of(simulator, first.sid, first.auth_token)
    with pytest.raises(TwilioRestException) as refused:
        as_first.api.v2010.accounts(second.sid).calls.create(
            to="+15551110007", from_=FROM, url=f"{receiver.base_url}/answer"
        )
    assert (refused.value.status, refused.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as wrong_token:
        client_of(simulator, first.sid, second.auth_token).calls("CA" + "0" * 32).fetch()
    assert wrong_token.value.status == 401
    with pytest.raises(TwilioRestException) as not_main:
        as_first.api.v2010.accounts.create(friendly_name="Grandchild")
    assert not_main.value.status == 403


def test_a_closed_subaccount_places_nothing(simulator, main, receiver, control):
    sub = main.api.v2010.accounts.create(friendly_name="Gone")
    main.api.v2010.accounts(sub.sid).update(status="closed")
    with pytest.raises(TwilioRestException) as refused:
        create(client_of(simulator, sub.sid, sub.auth_token), receiver)
    assert (refused.value.status, refused.value.code) == (401, 20005)
    assert control.calls() == []


def test_creates_are_counted_per_account_per_second(simulator, main, control, receiver):
    control.configure(cps=0.2)
    sub = main.api.v2010.accounts.create(friendly_name="Tenant")
    tenant = client_of(simulator, sub.sid, sub.auth_token)
    for n in range(3):
        create(tenant, receiver, to=f"+1555111000{n}")
    create(main, receiver)
    stats = control.stats()
    assert stats["create_requests_by_account"] == {sub.sid: 3, ACCOUNT_SID: 1}
    assert stats["max_creates_per_second_by_account"][sub.sid] == 3
    # Each account has its own queue at `cps` (one call per 5 s): the main account's call is not
    # behind the tenant's three.
    calls = control.wait_until(
        lambda calls: calls if all(c["initiated_at"] is not None for c in calls) else None
    )
    assert [c["account_sid"] for c in calls] == [sub.sid] * 3 + [ACCOUNT_SID]
    tenant_starts = [c["initiated_at"] for c in calls[:3]]
    gaps = [b - a for a, b in zip(tenant_starts, tenant_starts[1:], strict=False)]
    assert min(gaps) >= 5 - 1e-6
    main_call = calls[3]
    assert main_call["initiated_at"] - main_call["created_at"] < 1


def test_each_account_lists_its_own_incoming_phone_numbers(simulator, main, control):
    first = main.api.v2010.accounts.create(friendly_name="First")
    second = main.api.v2010.accounts.create(friendly_name="Second")
    control.configure(
        incoming_numbers=["+15550000001"],
        account_numbers={first.sid: ["+15550000011", "+15550000012"], second.sid: []},
    )
    as_first = client_of(simulator, first.sid, first.auth_token)
    listed = as_first.incoming_phone_numbers.list()
    assert [n.phone_number for n in listed] == ["+15550000011", "+15550000012"]
    assert {n.account_sid for n in listed} == {first.sid}
    assert client_of(simulator, second.sid, second.auth_token).incoming_phone_numbers.list() == []
    assert [n.phone_number for n in main.incoming_phone_numbers.list()] == ["+15550000001"]
    # The owner reads a subaccount's numbers through the subaccount's path, as on Twilio.
    owned = main.api.v2010.accounts(first.sid).incoming_phone_numbers.list()
    assert [n.phone_number for n in owned] == ["+15550000011", "+15550000012"]


def test_a_number_of_one_account_is_refused_as_the_from_of_another(
    simulator, main, control, receiver
):
    first = main.api.v2010.accounts.create(friendly_name="First")
    second = main.api.v2010.accounts.create(friendly_name="Second")
    control.configure(
        incoming_numbers=["+15550000001"], account_numbers={first.sid: ["+15550000011"]}
    )
    as_first = client_of(simulator, first.sid, first.auth_token)
    as_second = client_of(simulator, second.sid, second.auth_token)
    url = f"{receiver.base_url}/answer"
    for client, from_ in (
        (as_second, "+15550000011"),
        (as_first, "+15550000001"),
        (main, "+15550000011"),
    ):
        with pytest.raises(TwilioRestException) as refused:
            client.calls.create(to="+15551110007", from_=from_, url=url)
        assert (refused.value.status, refused.value.code) == (400, 21210)
    assert control.calls() == []
    # Each account's own number, and a number no account here has, place calls.
    ours = as_first.calls.create(to="+15551110007", from_="+15550000011", url=url)
    mains = main.calls.create(to="+15551110008", from_="+15550000001", url=url)
    unknown = as_second.calls.create(to="+15551110009", from_=FROM, url=url)
    assert [control.call(c.sid)["account_sid"] for c in (ours, mains, unknown)] == [
        first.sid,
        ACCOUNT_SID,
        second.sid,
    ]
