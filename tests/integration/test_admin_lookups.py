"""A list takes from the query string only the lookups its filters and date hierarchy declare.

Django's admin accepts any lookup on a model's own fields, so a count that answers yes or no
(`?webhook_secret__regex=^whsec_a`) reads a field the page never shows, a character at a time.
The walk below covers every scoped admin registered on the site, so a new one is covered too.
"""

import re

import pytest
from django.contrib import admin
from django.db import models

from calls.admin.scoping import ScopedAdmin
from calls.models import CallEvent, Campaign, DoNotCall
from leads.models import Lead
from tests.recipes import make_call, make_member, make_request, sid

ROLES = ["viewer", "operator", "manager", "superuser"]
# A pattern every non-empty value matches, and one nothing matches.
MATCHES_ANY, MATCHES_NONE = ".", "^(?!)"


def scoped_admins() -> list[tuple[type, ScopedAdmin]]:
    registry = admin.site._registry.items()
    found = [(model, ma) for model, ma in registry if isinstance(ma, ScopedAdmin)]
    return sorted(found, key=lambda pair: pair[0]._meta.label)


def declared_fields(model_admin, request) -> set[str]:
    """The fields a list filters or searches on (their first part: the field of this model)."""
    names = {name.lstrip("^=@").split("__")[0] for name in model_admin.search_fields}
    for item in model_admin.get_list_filter(request):
        if isinstance(item, (list, tuple)):
            item = item[0]
        if isinstance(item, str):
            names.add(item.split("__")[0])
    return names


def text_fields(model) -> list[str]:
    return [
        field.name
        for field in model._meta.get_fields()
        if getattr(field, "concrete", False)
        and isinstance(field, (models.CharField, models.TextField))
    ]


@pytest.fixture
def tenant(business):
    """A business with a row of most kinds, each text field filled, and a webhook secret."""
    business.webhook_url = "https://hooks.example.com/calls"
    business.save()
    lead = Lead.objects.create(business=business, phone_number="+14155550123", name="Ann Lee")
    campaign = Campaign.objects.create(business=business, name="Spring")
    request = make_request(business, campaign=campaign, lead=lead, status="failed")
    request.last_error = "busy"
    request.save()
    call = make_call(business, call_sid=sid(1), status="busy", request=request, lead=lead)
    CallEvent.objects.create(call=call, status="busy", applied=True, params={"To": "+1"})
    DoNotCall.objects.create(business=business, phone_number="+14155550199", reason="asked")
    return business


def page(response) -> bytes:
    """The page as it depends on the request: a CSRF token is masked anew for every answer."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content)


def login(client, role, business):
    if role == "superuser":
        user = make_member(username="root")
        user.is_superuser = True
        user.save()
    else:
        user = make_member((business, role), username=role)
    client.force_login(user)
    return user


@pytest.mark.parametrize("role", ROLES)
def test_every_scoped_list_refuses_a_lookup_it_does_not_declare(client, tenant, role, rf):
    user = login(client, role, tenant)
    walked = []
    for model, model_admin in scoped_admins():
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        request = rf.get(url)
        request.user = user
        declared = declared_fields(model_admin, request)
        for name in text_fields(model):
            if name in declared:
                continue
            for lookup in (f"{name}__regex", f"{name}__startswith", name):
                value_any = MATCHES_ANY if lookup.endswith("regex") else ""
                value_none = MATCHES_NONE if lookup.endswith("regex") else "\u2603none"
                one = client.get(url, {lookup: value_any})
                other = client.get(url, {lookup: value_none})
                assert one.status_code in (400, 403), (url, lookup, one.status_code)
                assert (one.status_code, page(one)) == (other.status_code, page(other))
            walked.append(f"{model._meta.label}.{name}")
    # The walk reached the secret and the lists members read most.
    assert "calls.Business.webhook_secret" in walked
    assert {"calls.CallLog.error_message", "calls.CallRequest.last_error"} <= set(walked)
    assert "auth.User.password" in walked
    assert len(walked) >= 20


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_viewer_or_operator_cannot_read_the_webhook_secret_by_lookup(client, tenant, role):
    login(client, role, tenant)
    secret = tenant.webhook_secret
    for guess in (f"^{secret[:7]}", "^whsec_", "^nothing"):
        page = client.get("/admin/calls/business/", {"webhook_secret__regex": guess})
        assert page.status_code == 400
        assert secret.encode() not in page.content
    # Through another list's relation, and through the export, the same.
    page = client.get("/admin/calls/calllog/", {"business__webhook_secret__startswith": "whsec_"})
    assert page.status_code == 400
    export = client.get("/admin/calls/calllog/export/", {"business__webhook_secret": secret})
    assert export.status_code == 400


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/admin/calls/calllog/", {"status__exact": "busy"}),
        ("/admin/calls/calllog/", {"business__id__exact": "BUSINESS"}),
        ("/admin/calls/calllog/", {"has_error": "yes"}),
        ("/admin/calls/calllog/", {"campaign": "CAMPAIGN"}),
        ("/admin/calls/callrequest/", {"campaign__id__exact": "CAMPAIGN"}),
        ("/admin/compliance/donotcall/", {"created_at__gte": "2020-01-01"}),
        ("/admin/calls/business/", {"is_active__exact": "1"}),
        ("/admin/webhooks/webhookmessage/", {"created_at__year": "2026"}),
        ("/admin/calls/calllog/", {"q": "555-0123"}),
    ],
)
def test_the_declared_filters_search_and_date_hierarchy_still_work(client, tenant, path, params):
    login(client, "manager", tenant)
    campaign = Campaign.objects.get()
    filled = {
        k: v.replace("BUSINESS", str(tenant.pk)).replace("CAMPAIGN", str(campaign.pk))
        for k, v in params.items()
    }
    assert client.get(path, filled).status_code == 200


def test_the_secret_reaches_a_manager_of_its_business(client, tenant):
    login(client, "manager", tenant)
    page = client.get(f"/admin/calls/business/{tenant.pk}/change/")
    assert tenant.webhook_secret in page.content.decode()
