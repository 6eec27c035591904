"""Operator actions: confirmed before they dial, hang up or cancel, bounded, recorded and shown on
the rows they touched; audit rows read only; a business is deactivated, never deleted."""

import pytest
from django.contrib.messages import get_messages

from calls.audit import OperatorAction
from calls.models import Business, CallEvent, CallLog, CallRequest, Campaign
from calls.services.hang_ups import call_hang_up
from leads.models import Lead
from tests.recipes import callback, make_call, make_request, sid


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def operator(member_client, business):
    return member_client((business, "operator"), username="olga")


@pytest.fixture
def live_call(business):
    return make_call(business, call_sid=sid("a"), status="in-progress")


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def post_action(client, url, action, rows, confirmed=True, **extra):
    data = {"action": action, "_selected_action": [row.pk for row in rows], **extra}
    if confirmed:
        data["post"] = "yes"
    return client.post(url, data, follow=True)


@pytest.mark.parametrize(
    ("url", "action", "make", "says"),
    [
        ("/admin/calls/calllog/", "hang_up", "call", "Hang up 1 call: the people on them"),
        ("/admin/calls/calllog/", "retry_now", "call", "Dial again the numbers of 1 call"),
        ("/admin/calls/callrequest/", "retry_now", "request", "Dial the numbers of 1 request"),
        ("/admin/calls/campaign/", "cancel", "campaign", "Cancel 1 campaign for good"),
        ("/admin/calls/campaign/", "cancel_and_hang_up", "campaign", "hang up their live calls"),
        ("/admin/calls/campaign/", "resume", "campaign", "Resume 1 campaign"),
        ("/admin/leads/lead/", "call_selected", "lead", "Dial 1 lead now"),
    ],
)
def test_dialing_hang_up_and_cancel_actions_ask_first(
    operator, business, queue, on_commit, url, action, make, says
):
    campaign = Campaign.objects.create(business=business, name="spring", status="paused")
    request = make_request(business, campaign=campaign, status="failed")
    rows = {
        "call": make_call(business, call_sid=sid("b"), status="ringing", request=request),
        "request": request,
        "campaign": campaign,
        "lead": Lead.objects.create(business=business, phone_number="+14155550177"),
    }
    with on_commit(execute=True):
        response = post_action(operator, url, action, [rows[make]], confirmed=False)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/calls/confirm_action.html"
    assert says in response.content.decode()
    assert 'name="post" value="yes"' in response.content.decode()
    assert queue() == []
    assert not OperatorAction.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    with on_commit(execute=True):
        post_action(operator, url, action, [rows[make]])
    assert queue() != []
    assert OperatorAction.objects.count() == 1


def test_an_action_on_more_rows_than_allowed_is_refused_with_the_reason(
    operator, business, queue, settings
):
    settings.ADMIN_ACTION_MAX_ROWS = 1
    calls = [make_call(business, number=f"+1415555012{n}", status="ringing") for n in range(2)]
    response = post_action(operator, "/admin/calls/calllog/", "hang_up", calls)
    assert messages_of(response) == [
        "Refused: 2 calls selected, and an action runs on at most 1 at once "
        "(ADMIN_ACTION_MAX_ROWS). Select fewer, or narrow the list with a filter."
    ]
    assert queue() == []
    assert CallLog.objects.filter(hang_up_requested_by__isnull=False).count() == 0


def test_an_operators_hang_up_shows_their_name_and_is_logged(
    operator, business, live_call, fake_twilio, twilio_post, on_commit
):
    with on_commit(execute=True):
        response = post_action(operator, "/admin/calls/calllog/", "hang_up", [live_call])
    assert messages_of(response) == ["1 call queued to hang up."]
    live_call.refresh_from_db()
    assert live_call.hang_up_requested_by.username == "olga"
    call_hang_up(call_id=live_call.pk)
    assert fake_twilio.hung_up == [live_call.call_sid]
    # Twilio reports the end of a call it hung up as completed, with no word of who asked.
    path = f"/twilio/calls/{live_call.public_id}/status"
    assert twilio_post(path, callback(live_call.call_sid, "completed", 5)).status_code == 204
    live_call.refresh_from_db()
    assert (live_call.status, live_call.ended_by) == ("completed", "operator")
    page = operator.get(f"/admin/calls/calllog/{live_call.pk}/change/").content.decode()
    assert "Operator (olga)" in page
    assert "olga · 1 call queued to hang up." in page
    log = operator.get("/admin/calls/operatoraction/")
    (action,) = log.context["cl"].result_list
    assert (action.username, action.action, action.business, action.rows) == (
        "olga",
        "hang_up",
        business,
        1,
    )
    assert list(action.targets.values_list("object_id", flat=True)) == [live_call.pk]
    detail = operator.get(f"/admin/calls/operatoraction/{action.pk}/change/").content.decode()
    assert f'href="/admin/calls/calllog/{live_call.pk}/change/"' in detail


def test_a_call_that_ends_by_itself_keeps_twilio_as_who_ended_it(business, twilio_post):
    call = make_call(business, call_sid=sid("c"), status="in-progress")
    twilio_post(f"/twilio/calls/{call.public_id}/status", callback(call.call_sid, "completed", 5))
    call.refresh_from_db()
    assert (call.ended_by, call.hang_up_requested_by) == ("twilio", None)


def test_cancel_and_hang_up_marks_who_asked_on_each_live_call(operator, business, queue, on_commit):
    campaign = Campaign.objects.create(business=business, name="spring")
    request = make_request(business, campaign=campaign, status="active")
    call = make_call(business, call_sid=sid("d"), status="ringing", request=request)
    with on_commit(execute=True):
        post_action(operator, "/admin/calls/campaign/", "cancel_and_hang_up", [campaign])
    call.refresh_from_db()
    assert call.hang_up_requested_by.username == "olga"
    assert ("calls.tasks.hang_up_call", (call.pk,)) in queue()
    page = operator.get(f"/admin/calls/campaign/{campaign.pk}/change/").content.decode()
    assert "olga · 1 campaign set to canceled." in page


@pytest.mark.parametrize("model", [CallLog, CallRequest, CallEvent])
def test_audit_rows_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    admin_client, business, model
):
    call = make_call(business, call_sid=sid("e"), status="completed")
    event = CallEvent.objects.create(call=call, status="completed", applied=True)
    request = make_request(business, status="done")
    row = {CallLog: call, CallRequest: request, CallEvent: event}[model]
    base = f"/admin/calls/{model._meta.model_name}/"
    if model is CallEvent:
        # Events have no page of their own; on their call's page they are read only.
        assert admin_client.get(base).status_code == 404
        page = admin_client.get(f"/admin/calls/calllog/{call.pk}/change/").content.decode()
        assert "events-0-DELETE" not in page
        assert 'name="events-TOTAL_FORMS"' not in page or "events-0-status" not in page
        return
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.get(f"{base}{row.pk}/delete/").status_code == 403
    assert admin_client.post(f"{base}{row.pk}/change/", {"to_number": "+1"}).status_code == 403
    changelist = admin_client.get(base)
    assert "delete_selected" not in changelist.content.decode()
    response = admin_client.post(
        base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert model.objects.filter(pk=row.pk).exists()


def test_a_business_with_history_cannot_be_deleted(admin_client, business):
    make_call(business, status="completed")
    response = admin_client.post(f"/admin/calls/business/{business.pk}/delete/", {"post": "yes"})
    assert response.status_code == 200
    assert "Cannot delete business" in response.content.decode()
    assert Business.objects.filter(pk=business.pk).exists()


def test_only_a_superuser_may_delete_a_business(member_client, business):
    manager = member_client((business, "manager"))
    assert manager.post(f"/admin/calls/business/{business.pk}/delete/").status_code == 403
    assert Business.objects.filter(pk=business.pk).exists()


def test_deactivating_a_business_stops_dialing_and_hangs_up_its_live_calls(
    member_client, business, rival, queue, on_commit
):
    manager = member_client((business, "manager"), username="maria")
    live = make_call(business, call_sid=sid("f"), status="in-progress")
    ended = make_call(business, number="+14155550124", status="completed")
    other = make_call(rival, call_sid=sid("9"), status="in-progress")
    make_request(business, number="+14155550125")
    with on_commit(execute=True):
        first = post_action(
            manager, "/admin/calls/business/", "deactivate", [business], confirmed=False
        )
        assert "every live call is hung up now" in first.content.decode()
        assert queue() == []
        response = post_action(manager, "/admin/calls/business/", "deactivate", [business])
    assert messages_of(response) == ["1 business deactivated."]
    business.refresh_from_db()
    live.refresh_from_db()
    ended.refresh_from_db()
    other.refresh_from_db()
    assert not business.is_active
    assert live.hang_up_requested_by.username == "maria"
    assert ended.hang_up_requested_by is None and other.hang_up_requested_by is None
    assert queue() == [("calls.tasks.hang_up_call", (live.pk,))]
    with on_commit(execute=True):
        post_action(manager, "/admin/calls/business/", "activate", [business])
    business.refresh_from_db()
    assert business.is_active
    assert queue()[-1] == ("calls.tasks.dispatch", (business.pk,))


def test_an_operator_cannot_deactivate(operator, business, queue):
    response = post_action(operator, "/admin/calls/business/", "deactivate", [business])
    assert response.status_code == 200
    business.refresh_from_db()
    assert business.is_active
    assert queue() == []
