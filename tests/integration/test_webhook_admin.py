"""The webhooks in the admin: messages and their attempts, read only and scoped to the user's
businesses; redelivery by operators; the signing secret shown to managers and rotated by them;
the URL refused when it reaches a non-public address; the dashboard's failing mark."""

import socket
from datetime import timedelta

from django.contrib.messages import get_messages
from django.utils import timezone

from calls.models import Business
from webhooks.models import WebhookAttempt, WebhookMessage
from webhooks.tasks import webhook_deliver

MESSAGES = "/admin/webhooks/webhookmessage/"
DELIVER = "webhooks.tasks.webhook_deliver"


def message_of(business, *, delivered=False, given_up_ago=None, delivered_ago=None):
    now = timezone.now()
    return WebhookMessage.objects.create(
        business=business,
        type="call_request.settled",
        payload={"type": "call_request.settled", "data": {"id": 1}},
        next_attempt_at=None if (delivered or given_up_ago or delivered_ago) else now,
        retry_until=now + timedelta(hours=24),
        attempts=1 if (delivered or given_up_ago or delivered_ago) else 0,
        delivered_at=now - delivered_ago if delivered_ago else (now if delivered else None),
        given_up_at=now - given_up_ago if given_up_ago else None,
    )


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def redeliver(client, messages):
    data = {"action": "redeliver", "_selected_action": [m.pk for m in messages]}
    return client.post(MESSAGES, data, follow=True)


def test_a_member_sees_the_messages_and_attempts_of_its_businesses_only(
    member_client, business, rival
):
    ours, theirs = message_of(business), message_of(rival)
    WebhookAttempt.objects.create(message=ours, at=timezone.now(), status_code=503, duration_ms=12)
    client = member_client((business, "viewer"))
    listing = client.get(MESSAGES)
    assert listing.status_code == 200
    assert list(listing.context["cl"].queryset) == [ours]
    page = client.get(f"{MESSAGES}{ours.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert ours.webhook_id in body and "503" in body
    assert client.get(f"{MESSAGES}{theirs.pk}/change/").status_code == 302  # not found: home
    assert WebhookMessage.objects.get(pk=theirs.pk).payload == theirs.payload


def test_messages_are_read_only_even_for_a_manager(member_client, business):
    message = message_of(business)
    client = member_client((business, "manager"))
    assert client.get(f"{MESSAGES}add/").status_code == 403
    before = WebhookMessage.objects.get(pk=message.pk)
    client.post(f"{MESSAGES}{message.pk}/change/", {"type": "other", "payload": "{}"})
    client.post(f"{MESSAGES}{message.pk}/delete/", {"post": "yes"})
    after = WebhookMessage.objects.get(pk=message.pk)
    assert (after.type, after.payload) == (before.type, before.payload)


def test_an_operator_redelivers_a_delivered_message_under_the_same_webhook_id(
    member_client, business, receiver, queue, django_capture_on_commit_callbacks
):
    business.webhook_url = receiver.url
    business.save()
    message = message_of(business, delivered=True)
    client = member_client((business, "operator"), username="olga")
    with django_capture_on_commit_callbacks(execute=True):
        response = redeliver(client, [message])
    assert messages_of(response) == ["1 message queued for delivery."]
    message.refresh_from_db()
    assert (message.delivered_at, message.attempts) == (None, 0)
    assert message.retry_until > timezone.now() + timedelta(hours=23)
    assert queue() == [(DELIVER, (message.pk,))]
    assert webhook_deliver(message.pk) == "delivered"
    (received,) = receiver.received
    assert received.headers["webhook-id"] == message.webhook_id
    page = client.get(f"{MESSAGES}{message.pk}/change/").content.decode()
    assert "olga" in page and "1 message queued for delivery." in page  # the row's action log


def test_a_given_up_message_is_redelivered_with_a_new_day_of_retries(
    member_client, business, queue, django_capture_on_commit_callbacks
):
    message = message_of(business, given_up_ago=timedelta(minutes=5))
    client = member_client((business, "operator"))
    with django_capture_on_commit_callbacks(execute=True):
        redeliver(client, [message])
    message.refresh_from_db()
    assert message.given_up_at is None and message.next_attempt_at is not None
    assert queue() == [(DELIVER, (message.pk,))]


def test_a_message_being_delivered_is_not_redelivered_twice_at_once(
    member_client, business, queue, django_capture_on_commit_callbacks
):
    message = message_of(business)
    WebhookMessage.objects.filter(pk=message.pk).update(
        claimed_until=timezone.now() + timedelta(seconds=30)
    )
    client = member_client((business, "operator"))
    with django_capture_on_commit_callbacks(execute=True):
        response = redeliver(client, [message])
    assert messages_of(response) == [
        "0 messages queued for delivery: the selected message were being delivered right now."
    ]
    assert queue() == []


def test_a_viewer_cannot_redeliver_and_nobody_redelivers_another_business_message(
    member_client, business, rival, queue
):
    ours, theirs = message_of(business, delivered=True), message_of(rival, delivered=True)
    viewer = member_client((business, "viewer"))
    response = redeliver(viewer, [ours])
    assert "redeliver" not in response.context["cl"].model_admin.get_actions(response.wsgi_request)
    operator = member_client((business, "operator"), username="olga")
    redeliver(operator, [theirs])
    assert WebhookMessage.objects.get(pk=ours.pk).delivered_at is not None
    assert WebhookMessage.objects.get(pk=theirs.pk).delivered_at is not None
    assert queue() == []


def business_form(business, **changes):
    data = {
        "name": business.name,
        "default_purpose": business.default_purpose,
        "max_concurrent_calls": business.max_concurrent_calls,
        "max_attempts": business.max_attempts,
        "retry_delay_seconds": business.retry_delay_seconds,
        "webhook_url": business.webhook_url,
        "time_zone": business.time_zone,
        "window_start_hour": business.window_start_hour,
        "window_end_hour": business.window_end_hour,
        "window_days": business.window_days,
    }
    return {**data, **changes}


def test_a_manager_sets_the_webhook_url_and_then_sees_the_secret(member_client, business):
    manager = member_client((business, "manager"))
    url = f"/admin/calls/business/{business.pk}/change/"
    response = manager.post(url, business_form(business, webhook_url="https://8.8.8.8/hooks"))
    assert response.status_code == 302
    business.refresh_from_db()
    assert business.webhook_url == "https://8.8.8.8/hooks"
    assert business.webhook_secret.startswith("whsec_")
    assert business.webhook_secret in manager.get(url).content.decode()


def test_a_webhook_url_reaching_a_private_address_is_refused_with_the_reason(
    member_client, business
):
    manager = member_client((business, "manager"))
    url = f"/admin/calls/business/{business.pk}/change/"
    response = manager.post(url, business_form(business, webhook_url="https://localhost/hooks"))
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert "localhost must resolve to public internet addresses" in errors
    business.refresh_from_db()
    assert (business.webhook_url, business.webhook_secret) == ("", "")


def test_the_refusal_a_manager_reads_never_names_an_internal_address(
    member_client, business, monkeypatch
):
    """Split-horizon DNS: an internal name and a name that does not exist read the same."""
    real = socket.getaddrinfo

    def internal_dns(host, *args, **kwargs):
        if host == "billing.corp.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", 443))]
        if host == "nothing.corp.example.com":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", internal_dns)
    manager = member_client((business, "manager"))
    url = f"/admin/calls/business/{business.pk}/change/"
    pages = {
        host: manager.post(url, business_form(business, webhook_url=f"https://{host}/hooks"))
        for host in ("billing.corp.example.com", "nothing.corp.example.com")
    }
    internal, missing = (
        page.context["adminform"].form.errors["webhook_url"] for page in pages.values()
    )
    assert "10.9.8.7" not in pages["billing.corp.example.com"].content.decode()
    assert internal == [
        "The host billing.corp.example.com must resolve to public internet addresses, and only "
        "to them."
    ]
    assert [error.replace("billing", "nothing") for error in internal] == missing
    business.refresh_from_db()
    assert business.webhook_url == ""


def test_a_webhook_url_on_a_port_other_than_443_is_refused(member_client, business):
    manager = member_client((business, "manager"))
    url = f"/admin/calls/business/{business.pk}/change/"
    response = manager.post(url, business_form(business, webhook_url="https://8.8.8.8:22/hooks"))
    assert response.status_code == 200
    assert "port must be 443 (not 22)" in str(response.context["adminform"].form.errors)
    business.refresh_from_db()
    assert business.webhook_url == ""


def test_operators_and_viewers_never_see_the_secret(member_client, business):
    Business.objects.filter(pk=business.pk).update(
        webhook_url="https://8.8.8.8/hooks", webhook_secret="whsec_c2VjcmV0c2VjcmV0"
    )
    for role in ("operator", "viewer"):
        client = member_client((business, role), username=role)
        page = client.get(f"/admin/calls/business/{business.pk}/change/")
        assert page.status_code == 200
        assert "whsec_c2VjcmV0c2VjcmV0" not in page.content.decode()


def test_a_manager_rotates_the_secret_and_an_operator_cannot(member_client, business):
    business.webhook_url = "https://8.8.8.8/hooks"
    business.save()
    old = Business.objects.get(pk=business.pk).webhook_secret
    data = {"action": "rotate_webhook_secret", "_selected_action": [business.pk]}
    operator = member_client((business, "operator"), username="olga")
    operator.post("/admin/calls/business/", {**data, "post": "yes"})
    assert Business.objects.get(pk=business.pk).webhook_secret == old
    manager = member_client((business, "manager"), username="max")
    confirm = manager.post("/admin/calls/business/", data)
    assert "new webhook signing secret" in confirm.content.decode()
    assert Business.objects.get(pk=business.pk).webhook_secret == old
    response = manager.post("/admin/calls/business/", {**data, "post": "yes"}, follow=True)
    assert messages_of(response) == ["1 business given a new webhook secret."]
    new = Business.objects.get(pk=business.pk).webhook_secret
    assert new != old and new.startswith("whsec_")


def test_the_dashboard_marks_a_business_whose_endpoint_failed_for_a_day(
    admin_client, business, rival
):
    for b in (business, rival):
        Business.objects.filter(pk=b.pk).update(webhook_url="https://8.8.8.8/hooks")
    message_of(business, delivered_ago=timedelta(hours=30))
    message_of(business, given_up_ago=timedelta(hours=1))
    message_of(rival, given_up_ago=timedelta(hours=2))
    message_of(rival, delivered_ago=timedelta(minutes=5))  # it works again
    response = admin_client.get("/admin/dashboard/")
    failing = {s.business.name: s.webhook_failing for s in response.context["states"]}
    assert failing == {business.name: True, rival.name: False}
    assert "Webhooks failing" in response.content.decode()
