"""Two businesses: a member of one, in every role, sees none of the other's rows on any admin
page and cannot act on them by any action or crafted POST; roles bound what a member may do."""

import pytest
from django.contrib.messages import get_messages

from calls.audit import OperatorAction
from calls.models import (
    Business,
    CallEvent,
    CallRequest,
    Campaign,
    DoNotCall,
    Membership,
    NumberErasure,
)
from leads.models import Lead
from tests.recipes import make_call, make_member, make_request, sid

ROLES = ["viewer", "operator", "manager"]


def rows_of(business, n, name):
    """One row of every kind for `business`; `n` keeps numbers and SIDs apart."""
    number = f"+1415555{n}123"
    lead = Lead.objects.create(business=business, phone_number=number, name=name)
    campaign = Campaign.objects.create(business=business, name=f"{name} campaign")
    request = make_request(business, number=number, campaign=campaign, lead=lead, status="active")
    call = make_call(
        business, number=number, call_sid=sid(n), status="ringing", request=request, lead=lead
    )
    event = CallEvent.objects.create(
        call=call, status="ringing", applied=True, params={"To": number}
    )
    action = OperatorAction.objects.create(
        business=business,
        username="someone",
        action="reconcile",
        description="Reconcile",
        target="calls.calllog",
        rows=1,
        summary=f"{name} reconciled",
    )
    owner = make_member((business, "manager"), username=f"owner{n}")
    erasure = NumberErasure.objects.create(
        business=business, number_hash=f"{n}" * 64, via="command"
    )
    do_not_call = DoNotCall.objects.create(
        business=business, phone_number=number, reason=f"{name} asked"
    )
    return {
        "business": business,
        "lead": lead,
        "campaign": campaign,
        "request": request,
        "call": call,
        "event": event,
        "action": action,
        "membership": owner.memberships.get(),
        "erasure": erasure,
        "do_not_call": do_not_call,
        "number": number,
        "name": name,
    }


@pytest.fixture
def ours(business):
    return rows_of(business, 1, "Olive Ours")


@pytest.fixture
def theirs(rival):
    return rows_of(rival, 2, "Theo Theirs")


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def admin_url(obj, view="changelist"):
    opts = obj._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    if view == "changelist":
        return base
    return f"{base}add/" if view == "add" else f"{base}{obj.pk}/{view}/"


LISTED = [
    "business",
    "lead",
    "campaign",
    "request",
    "call",
    "action",
    "membership",
    "erasure",
    "do_not_call",
]
# What a role may list: memberships and erasures are the managers'.
MANAGERS_ONLY = {"membership", "erasure"}


def visible(role, kind):
    return role == "manager" or kind not in MANAGERS_ONLY


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", LISTED)
def test_a_list_shows_a_member_its_business_only(member_client, ours, theirs, role, kind):
    client = member_client((ours["business"], role))
    response = client.get(admin_url(ours[kind]))
    if not visible(role, kind):
        assert response.status_code == 403
        return
    assert response.status_code == 200
    assert ours[kind] in response.context["cl"].result_list
    assert theirs[kind] not in response.context["cl"].result_list
    body = response.content.decode()
    # Nor in a filter's choices, a column or a link.
    for secret in (theirs["name"], theirs["number"], "Rival Roofing"):
        assert secret not in body


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", ["business", "lead", "request", "call"])
@pytest.mark.parametrize("term", ["name", "number", "sid"])
def test_a_search_finds_nothing_of_the_other_business(
    member_client, ours, theirs, role, kind, term
):
    client = member_client((ours["business"], role))
    query = {"name": theirs["name"], "number": theirs["number"], "sid": theirs["call"].call_sid}
    response = client.get(admin_url(ours[kind]), {"q": query[term]})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert "Rival Roofing" not in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", LISTED)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_the_other_business_pages_are_not_found(member_client, ours, theirs, role, kind, view):
    client = member_client((ours["business"], role))
    response = client.get(admin_url(theirs[kind], view))
    assert response.status_code in (302, 403)
    assert theirs["name"] not in response.content.decode()
    if response.status_code == 302:
        assert response.url == "/admin/"


@pytest.mark.parametrize("role", ROLES)
def test_change_pages_and_inlines_show_our_rows_only(member_client, ours, theirs, role):
    client = member_client((ours["business"], role))
    for kind in ("call", "lead", "request", "campaign", "business"):
        response = client.get(admin_url(ours[kind], "change"))
        assert response.status_code == 200, kind
        body = response.content.decode()
        assert theirs["call"].call_sid not in body
        assert theirs["name"] not in body
    call_page = client.get(admin_url(ours["call"], "change")).content.decode()
    assert "Callbacks and reconciles" in call_page
    lead_page = client.get(admin_url(ours["lead"], "change")).content.decode()
    assert ours["call"].call_sid in lead_page


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("app", "model", "field"),
    [("leads", "lead", "business"), ("calls", "campaign", "business")],
)
def test_autocomplete_offers_our_business_only(
    member_client, ours, theirs, role, app, model, field
):
    client = member_client((ours["business"], role))
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": app, "model_name": model, "field_name": field, "term": ""},
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(ours["business"].pk)]
    for term in ("Rival", "+1415555020"):
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": app, "model_name": model, "field_name": field, "term": term},
        )
        assert response.json()["results"] == []


# Every custom action, with the kind of row it runs on.
ACTIONS = [
    ("call", "hang_up"),
    ("call", "retry_now"),
    ("call", "reconcile"),
    ("request", "retry_now"),
    ("campaign", "pause"),
    ("campaign", "resume"),
    ("campaign", "stop"),
    ("campaign", "cancel"),
    ("campaign", "cancel_and_hang_up"),
    ("business", "resume"),
    ("business", "deactivate"),
    ("business", "activate"),
    ("lead", "call_selected"),
    ("lead", "erase_numbers"),
]


def snapshot(rows):
    """Every field of every row of one business, to compare before and after."""
    found = {}
    for kind in ("business", "lead", "campaign", "request", "call"):
        row = rows[kind]
        found[kind] = type(row).objects.filter(pk=row.pk).values().first()
    found["requests"] = CallRequest.objects.filter(business=rows["business"]).count()
    found["actions"] = OperatorAction.objects.filter(business=rows["business"]).count()
    found["erasures"] = NumberErasure.objects.filter(business=rows["business"]).count()
    return found


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("kind", "action"), ACTIONS)
def test_no_action_reaches_the_other_business(
    member_client, ours, theirs, queue, on_commit, role, kind, action
):
    client = member_client((ours["business"], role))
    before = snapshot(theirs)
    with on_commit(execute=True):
        response = client.post(
            admin_url(theirs[kind]),
            {"action": action, "_selected_action": [theirs[kind].pk], "post": "yes"},
        )
    assert response.status_code in (200, 302, 403)
    assert snapshot(theirs) == before
    assert queue() == []


@pytest.mark.parametrize(("kind", "action"), ACTIONS)
def test_a_viewer_cannot_act_even_on_its_own_rows(
    member_client, ours, queue, on_commit, kind, action
):
    client = member_client((ours["business"], "viewer"))
    before = snapshot(ours)
    with on_commit(execute=True):
        response = client.post(
            admin_url(ours[kind]),
            {"action": action, "_selected_action": [ours[kind].pk], "post": "yes"},
            follow=True,
        )
    assert snapshot(ours) == before
    assert queue() == []
    # No action is offered to a viewer, so the POST only lists the rows again.
    assert response.status_code == 200
    assert response.context["action_form"] is None


@pytest.mark.parametrize("kind", ["business", "lead", "campaign", "membership"])
def test_a_viewer_cannot_change_anything(member_client, ours, kind):
    client = member_client((ours["business"], "viewer"))
    page = client.get(admin_url(ours[kind], "change"))
    assert page.status_code in (200, 403)
    assert client.post(admin_url(ours[kind], "change"), {"name": "Changed"}).status_code == 403
    assert client.post(admin_url(ours[kind], "add"), {"name": "Changed"}).status_code == 403
    assert not Business.objects.filter(name="Changed").exists()
    assert not Campaign.objects.filter(name="Changed").exists()
    assert not Lead.objects.filter(name="Changed").exists()


def business_form(business, **changes):
    data = {
        "name": business.name,
        "default_purpose": business.default_purpose,
        "max_concurrent_calls": business.max_concurrent_calls,
        "max_attempts": business.max_attempts,
        "retry_delay_seconds": business.retry_delay_seconds,
        "time_zone": business.time_zone,
        "window_start_hour": business.window_start_hour,
        "window_end_hour": business.window_end_hour,
        "window_days": business.window_days,
    }
    return {**data, **changes}


def test_an_operator_cannot_change_business_settings(member_client, ours):
    client = member_client((ours["business"], "operator"))
    url = admin_url(ours["business"], "change")
    response = client.post(url, business_form(ours["business"], max_concurrent_calls=50))
    assert response.status_code == 403
    ours["business"].refresh_from_db()
    assert ours["business"].max_concurrent_calls == 3


def test_a_manager_changes_settings_but_not_what_reaches_twilio(member_client, ours):
    client = member_client((ours["business"], "manager"))
    url = admin_url(ours["business"], "change")
    form = business_form(
        ours["business"],
        max_concurrent_calls=5,
        phone_number="+14155550999",
        extra_twiml_verbs=["Dial"],
        allowed_recording_hosts="evil.example",
    )
    assert client.post(url, form).status_code == 302
    business = Business.objects.get(pk=ours["business"].pk)
    assert business.max_concurrent_calls == 5
    assert business.phone_number == "+14155550100"
    assert (business.extra_twiml_verbs, business.allowed_recording_hosts) == ([], "")


def test_a_manager_cannot_move_rows_or_add_members_to_the_other_business(
    member_client, ours, theirs
):
    client = member_client((ours["business"], "manager"))
    bob = make_member((ours["business"], "viewer"), username="bob")
    response = client.post(
        "/admin/calls/membership/add/",
        {"user": bob.pk, "business": theirs["business"].pk, "role": "manager"},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Membership.objects.filter(user=bob, business=theirs["business"]).exists()
    response = client.post(
        "/admin/calls/campaign/add/",
        {
            "business": theirs["business"].pk,
            "name": "hijack",
            "purpose": "informational",
            "say_text": "hi",
        },
    )
    assert "Select a valid choice" in response.content.decode()
    assert not Campaign.objects.filter(name="hijack").exists()


def test_a_manager_adds_a_member_who_then_sees_the_business(member_client, ours, theirs, client):
    bob = make_member((theirs["business"], "viewer"), username="bob")
    manager = member_client((ours["business"], "manager"), (theirs["business"], "manager"))
    response = manager.post(
        "/admin/calls/membership/add/",
        {"user": bob.pk, "business": ours["business"].pk, "role": "viewer"},
    )
    assert response.status_code == 302
    client.force_login(bob)
    listed = client.get("/admin/calls/calllog/").context["cl"].result_list
    assert set(listed) == {ours["call"], theirs["call"]}


def test_an_operator_cannot_manage_members(member_client, ours):
    client = member_client((ours["business"], "operator"))
    assert client.get("/admin/calls/membership/").status_code == 403
    response = client.post(
        "/admin/calls/membership/add/",
        {"user": client.session["_auth_user_id"], "business": ours["business"].pk},
    )
    assert response.status_code == 403
    assert Membership.objects.get(user__username="alice").role == "operator"


def test_a_member_of_two_businesses_acts_where_its_role_allows(
    member_client, ours, theirs, queue, on_commit
):
    client = member_client((ours["business"], "operator"), (theirs["business"], "viewer"))
    listed = client.get("/admin/calls/calllog/").context["cl"].result_list
    assert set(listed) == {ours["call"], theirs["call"]}
    with on_commit(execute=True):
        response = client.post(
            "/admin/calls/calllog/",
            {
                "action": "hang_up",
                "_selected_action": [ours["call"].pk, theirs["call"].pk],
                "post": "yes",
            },
            follow=True,
        )
    assert messages_of(response) == [
        "1 call queued to hang up; 1 lay outside what your role allows."
    ]
    assert queue() == [("calls.tasks.hang_up_call", (ours["call"].pk,))]
    theirs["call"].refresh_from_db()
    assert theirs["call"].hang_up_requested_by is None


@pytest.mark.parametrize(
    "url",
    [
        "/admin/django_q/schedule/",
        "/admin/django_q/failure/",
        "/admin/auth/group/",
        "/admin/axes/accessattempt/",
        "/admin/calls/dialingcontrol/",
    ],
)
def test_the_task_queue_accounts_and_dialing_switch_are_for_superusers(
    member_client, ours, admin_client, url
):
    assert admin_client.get(url).status_code == 200
    client = member_client((ours["business"], "manager"))
    assert client.get(url).status_code == 403


def test_a_superuser_sees_every_business(admin_client, ours, theirs):
    listed = admin_client.get("/admin/calls/calllog/").context["cl"].result_list
    assert set(listed) == {ours["call"], theirs["call"]}


def test_the_admin_index_lists_only_what_a_member_may_see(member_client, ours):
    body = member_client((ours["business"], "viewer")).get("/admin/").content.decode()
    assert "/admin/calls/calllog/" in body
    assert "/admin/leads/lead/" in body
    assert "/admin/calls/membership/" not in body
    assert "/admin/django_q/" not in body


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", LISTED)
@pytest.mark.parametrize("view", ["change", "delete"])
def test_a_crafted_post_to_the_other_business_changes_nothing(
    member_client, ours, theirs, role, kind, view
):
    client = member_client((ours["business"], role))
    row = theirs[kind]
    before = type(row).objects.filter(pk=row.pk).values().first()
    response = client.post(
        admin_url(row, view),
        {"post": "yes", "name": "Hacked", "role": "manager", "max_concurrent_calls": 99},
    )
    assert response.status_code in (302, 403)
    assert type(row).objects.filter(pk=row.pk).values().first() == before
