"""Who may see a business's webhook signing secret: its managers (they set up the receiver that
verifies it) and superusers. A viewer or operator reaches it on no admin page, form, list,
export or history, and no API answer carries it: with it one could forge "settled" webhooks
that the business's own systems trust."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry

from calls.admin.exports import CsvExport
from calls.models import Business, CallEvent, Campaign
from leads.models import Lead
from tests.api_client import api_for
from tests.recipes import make_call, make_member, make_request, sid
from webhooks.messages import requests_settled_announce


@pytest.fixture
def tenant(business, admin_user):
    business.webhook_url = "https://hooks.example.com/calls"
    business.save()
    lead = Lead.objects.create(business=business, phone_number="+14155550123", name="Ann Lee")
    campaign = Campaign.objects.create(business=business, name="Spring")
    request = make_request(business, campaign=campaign, lead=lead, status="done")
    call = make_call(business, call_sid=sid(1), status="completed", request=request, lead=lead)
    CallEvent.objects.create(call=call, status="completed", applied=True, params={"To": "+1"})
    requests_settled_announce(request_ids=[request.pk])
    LogEntry.objects.log_actions(
        user_id=admin_user.pk,
        queryset=Business.objects.filter(pk=business.pk),
        action_flag=CHANGE,
        change_message='[{"changed": {"fields": ["Webhook URL"]}}]',
    )
    return business


def pages_of(client, user) -> dict[str, bytes]:
    """Every admin page `user` may open: each list, each visible row's page and history, each
    export, the dashboard and the index."""
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    pages = {}
    for path in ("/admin/", "/admin/dashboard/", "/admin/preferences/"):
        pages[path] = client.get(path).content
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages[base] = client.get(base).content
        if isinstance(model_admin, CsvExport):
            pages[f"{base}export/"] = b"".join(client.get(f"{base}export/").streaming_content)
        for pk in model_admin.get_queryset(request).values_list("pk", flat=True)[:5]:
            for page in ("change/", "history/"):
                response = client.get(f"{base}{pk}/{page}")
                assert response.status_code == 200, f"{base}{pk}/{page}"
                pages[f"{base}{pk}/{page}"] = response.content
    return pages


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_no_admin_page_shows_the_secret_to_a_viewer_or_operator(client, tenant, role):
    user = make_member((tenant, role), username=role)
    client.force_login(user)
    pages = pages_of(client, user)
    assert f"/admin/calls/business/{tenant.pk}/change/" in pages
    assert f"/admin/calls/business/{tenant.pk}/history/" in pages
    assert "/admin/calls/calllog/export/" in pages
    leaked = [path for path, content in pages.items() if tenant.webhook_secret.encode() in content]
    assert leaked == []


def test_an_operator_cannot_rotate_the_secret(client, tenant):
    client.force_login(make_member((tenant, "operator"), username="olga"))
    before = tenant.webhook_secret
    client.post(
        "/admin/calls/business/",
        {"action": "rotate_webhook_secret", "_selected_action": [tenant.pk], "post": "yes"},
    )
    tenant.refresh_from_db()
    assert tenant.webhook_secret == before


def test_a_manager_sees_the_secret_on_the_business_s_page(client, tenant):
    user = make_member((tenant, "manager"), username="maria")
    client.force_login(user)
    page = client.get(f"/admin/calls/business/{tenant.pk}/change/")
    assert tenant.webhook_secret in page.content.decode()


def test_no_api_answer_carries_the_secret(client, tenant):
    api = api_for(client, tenant)
    request = tenant.requests.get()
    campaign = Campaign.objects.get()
    answers = [
        api.get("/calls"),
        api.get(f"/calls/{request.pk}"),
        api.get(f"/campaigns/{campaign.pk}"),
        api.get("/calls", {"business__webhook_secret__startswith": "whsec_"}),
        client.get("/api/v1/openapi.json"),
        api.post("/calls", {"to": "+14155550124"}),
    ]
    assert all(answer.status_code < 500 for answer in answers)
    assert not [a for a in answers if tenant.webhook_secret.encode() in a.content]
