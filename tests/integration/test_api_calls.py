"""/api/v1/calls over HTTP: queue, read, list, cancel; scoped to the key's business; bad input
answered with JSON 4xx, never a 500."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.models import IdempotencyRecord
from calls.audit import OperatorAction
from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from leads.models import Lead
from tests.api_client import ApiClient, api_for
from tests.recipes import make_call, make_request, sid

DISPATCH = "calls.tasks.dispatch"

DAILY = "outside the calling window (08:00–21:00, every day)"


@pytest.fixture
def api(client, business):
    return api_for(client, business)


def test_a_key_queues_a_call_with_its_lead_and_metadata(
    api, business, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/calls",
            {"to": "+14155550123", "lead": {"name": "Ann Lee"}, "metadata": {"crm": [1, "x"]}},
        )
    assert response.status_code == 201, response.content
    body = response.json()
    request = CallRequest.objects.get()
    assert body["id"] == request.pk
    assert (body["status"], body["to"], body["attempts"]) == ("queued", "+14155550123", 0)
    assert body["metadata"] == {"crm": [1, "x"]} == request.metadata
    assert body["next_attempt_at"] and body["calls"] == []
    assert request.business == business and request.lead.name == "Ann Lee"
    assert Lead.objects.get().source == Lead.Source.IMPORT
    assert queue() == [(DISPATCH, (business.pk,))]


def test_a_call_is_read_with_its_attempts(api, business):
    request = make_request(business, attempts=1, last_error="The last attempt ended busy.")
    ended = timezone.now()
    make_call(
        business,
        request=request,
        call_sid=sid(1),
        status=CallLog.Status.COMPLETED,
        duration_seconds=42,
        answered_by="human",
        answered_at=ended - timedelta(seconds=42),
        ended_at=ended,
        price=Decimal("0.01300"),
        price_unit="USD",
    )
    response = api.get(f"/calls/{request.pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["attempts"], body["max_attempts"]) == ("queued", 1, 3)
    assert body["reason"] == "The last attempt ended busy."
    (call,) = body["calls"]
    assert (call["sid"], call["status"], call["duration"], call["answered_by"]) == (
        sid(1),
        "completed",
        42,
        "human",
    )
    assert call["ended_at"] and call["answered_at"]
    assert (call["price"], call["price_unit"]) == ("0.01300", "USD")


def test_another_business_s_call_and_campaign_answer_404(api, business, rival, queue):
    theirs = make_request(rival)
    their_campaign = Campaign.objects.create(business=rival, name="theirs")
    response = api.get(f"/calls/{theirs.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
    assert api.post(f"/calls/{theirs.pk}/cancel").status_code == 404
    response = api.post("/calls", {"to": "+14155550123", "campaign": their_campaign.pk})
    assert response.status_code == 404
    assert api.get("/calls").json()["items"] == []
    assert CallRequest.objects.filter(business=business).count() == 0
    theirs.refresh_from_db()
    assert theirs.status == "queued"
    assert queue() == []


def test_an_idempotent_retry_returns_the_first_answer_and_queues_once(
    api, business, queue, django_capture_on_commit_callbacks
):
    headers = {"Idempotency-Key": "order-17"}
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/calls", {"to": "+14155550123"}, headers=headers)
        again = api.post("/calls", {"to": "+14155550123"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert CallRequest.objects.count() == 1
    assert queue() == [(DISPATCH, (business.pk,))]
    # The same key for another call is a client's mistake, not a retry.
    other = api.post("/calls", {"to": "+14155550124"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency-key-reused"
    assert CallRequest.objects.count() == 1


def test_a_refusal_is_replayed_too_and_keys_are_per_api_key(client, api, business):
    business.paused_reason = "21210"
    business.save()
    headers = {"Idempotency-Key": "k1"}
    first = api.post("/calls", {"to": "+14155550123"}, headers=headers)
    business.paused_reason = ""
    business.save()
    assert api.post("/calls", {"to": "+14155550123"}, headers=headers).json() == first.json()
    assert first.status_code == 422 and not CallRequest.objects.exists()
    # Another key of the same business has its own keys.
    other = api_for(client, business, name="other")
    assert other.post("/calls", {"to": "+14155550123"}, headers=headers).status_code == 201


def test_an_expired_idempotency_key_acts_anew(api, settings):
    headers = {"Idempotency-Key": "k"}
    assert api.post("/calls", {"to": "+14155550123"}, headers=headers).status_code == 201
    old = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS + 1)
    IdempotencyRecord.objects.update(created_at=old)
    CallRequest.objects.update(status="canceled")
    assert api.post("/calls", {"to": "+14155550123"}, headers=headers).status_code == 201
    assert CallRequest.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.parametrize("number", ["hello", "(415) 555-0123", "4155550123", "+1 415 555 0123"])
def test_a_number_not_in_e164_form_answers_400_naming_the_field(api, queue, number):
    response = api.post("/calls", {"to": number})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    (error,) = body["errors"]
    assert error["field"] == "to"
    assert error["message"].startswith("must be a number in E.164 form")
    assert not CallRequest.objects.exists() and queue() == []


def test_a_number_of_e164_form_in_no_numbering_plan_answers_422(api, queue):
    response = api.post("/calls", {"to": "+10005550123"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid-number"
    assert body["errors"][0]["field"] == "to"
    assert "not a valid phone number" in body["detail"]
    assert not CallRequest.objects.exists() and queue() == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", None),
        ('{"to": NaN}', None),
        ("[1, 2]", None),
        ('{"to": 4155550123}', "to"),
        ('{"to": "+14155550123", "campaign": "x"}', "campaign"),
        ('{"to": "+14155550123", "colour": "red"}', "colour"),
        ('{"to": "+14155550123", "lead": {"email": "a@b.c"}}', "lead.email"),
        ('{"to": "+1415\\u00005550123"}', "to"),
        ('{"to": "+14155550123", "metadata": [1]}', "metadata"),
        ('{"to": "+14155550123", "metadata": {"a": "\\u0000"}}', "metadata"),
        ('{"to": "+14155550123", "metadata": {"\\ud800": 1}}', "metadata"),
        ('{"to": "+14155550123", "metadata": {"a": ["\\udfff"]}}', "metadata"),
        ('{"to": "+14155550123", "lead": {"name": "Ann\\ud800"}}', "lead.name"),
        ('{"to": "+14155550123", "metadata": {"a": 1e400}}', None),
        ('{"to": "+14155550123", "metadata": {"a": 99999999999999999999}}', "metadata"),
        ('{"to": "+14155550123", "campaign": 99999999999999999999}', "campaign"),
        (b"\xff\xfe", None),
    ],
)
def test_malformed_bodies_answer_400_json(api, raw, field):
    response = api.post("/calls", raw=raw)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    if field:
        assert field in [e["field"] for e in body["errors"]]
    assert not CallRequest.objects.exists()


def test_metadata_past_its_bound_is_refused(api, settings):
    settings.API_METADATA_MAX_BYTES = 100
    response = api.post("/calls", {"to": "+14155550123", "metadata": {"note": "x" * 100}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "metadata"
    deep = {"a": [[[[[[[[[[1]]]]]]]]]]}
    response = api.post("/calls", {"to": "+14155550123", "metadata": deep})
    assert response.status_code == 400
    assert not CallRequest.objects.exists()


def test_a_body_past_django_s_limit_answers_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/calls", {"to": "+14155550123", "metadata": {"a": "x" * 2000}})
    assert response.status_code == 413
    assert response.json()["code"] == "too-large"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer cq_not-a-key"},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer " + "x" * 5000},
    ],
)
def test_no_or_an_unknown_key_answers_401(client, headers, queue):
    response = ApiClient(client, None).post("/calls", {"to": "+14155550123"}, headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"
    assert not CallRequest.objects.exists() and queue() == []


def test_a_revoked_key_answers_401(api):
    from api.models import ApiKey

    ApiKey.objects.update(revoked_at=timezone.now())
    assert api.get("/calls").status_code == 401


def test_a_paused_business_answers_422_with_the_code(api, business, queue):
    business.paused_reason = "Twilio refused the caller ID (21210)."
    business.save()
    response = api.post("/calls", {"to": "+14155550123"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "business-paused"
    assert "21210" in body["detail"]
    assert not CallRequest.objects.exists() and queue() == []


def test_a_number_already_queued_answers_409(api):
    assert api.post("/calls", {"to": "+14155550123"}).status_code == 201
    response = api.post("/calls", {"to": "+14155550123"})
    assert response.status_code == 409
    assert response.json()["code"] == "already-open"
    assert CallRequest.objects.count() == 1


def test_a_key_past_its_rate_answers_429_with_retry_after(
    client, api, business, settings, monkeypatch
):
    settings.API_RATE_PER_MINUTE = 2
    # 20 s into a minute: the window has 40 s to run.
    monkeypatch.setattr("api.keys.time.time", lambda: 1_800_000_000 - 40)
    assert api.get("/calls").status_code == 200
    assert api.get("/calls").status_code == 200
    response = api.post("/calls", {"to": "+14155550123"})
    assert response.status_code == 429
    assert response["Retry-After"] == "40"
    assert response.json()["code"] == "throttled"
    assert not CallRequest.objects.exists()
    # Another key has its own count; the next minute the first counts afresh.
    assert api_for(client, business, name="other").get("/calls").status_code == 200
    monkeypatch.setattr("api.keys.time.time", lambda: 1_800_000_000 + 1)
    assert api.get("/calls").status_code == 200


def test_two_keys_of_one_business_are_counted_each_on_its_own(
    client, api, business, settings, monkeypatch
):
    """Interleaved, so a count kept per business (or shared between the keys' rows) would
    refuse the first key's second request."""
    settings.API_RATE_PER_MINUTE = 2
    monkeypatch.setattr("api.keys.time.time", lambda: 1_800_000_000 - 40)
    other = api_for(client, business, name="other")
    answers = [
        api.get("/calls").status_code,
        other.get("/calls").status_code,
        api.get("/calls").status_code,
        api.get("/calls").status_code,
        other.get("/calls").status_code,
        other.get("/calls").status_code,
    ]
    assert answers == [200, 200, 200, 429, 200, 429]


def test_calls_are_listed_newest_first_a_page_at_a_time(api, business, rival):
    campaign = Campaign.objects.create(business=business, name="spring")
    made = [make_request(business, number=f"+1415555012{k}") for k in range(5)]
    make_request(business, number="+14155550199", campaign=campaign, status="done")
    make_request(rival)
    CallRequest.objects.filter(pk=made[0].pk).update(created_at=timezone.now() - timedelta(days=2))
    first = api.get("/calls", {"limit": 4}).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    last = api.get("/calls", {"limit": 4, "cursor": first["next_cursor"]}).json()
    assert len(last["items"]) == 2 and last["next_cursor"] is None
    ids = [c["id"] for c in first["items"] + last["items"]]
    assert ids[-1] == made[0].pk and len(set(ids)) == 6
    assert [c["to"] for c in api.get("/calls", {"status": "done"}).json()["items"]] == [
        "+14155550199"
    ]
    assert len(api.get("/calls", {"campaign": campaign.pk}).json()["items"]) == 1
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert len(api.get("/calls", {"since": since}).json()["items"]) == 5


@pytest.mark.parametrize("cursor", ["not-a-cursor", "MjAyNi0wMS0wMXwx"])  # the 2nd: no zone
def test_a_cursor_this_api_never_gave_answers_422(api, cursor):
    response = api.get("/calls", {"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-cursor"


def test_pages_hold_still_while_calls_are_queued_between_them(api, business):
    """Scenario 12: offset pages over newest-first repeated or skipped rows as calls arrived."""
    made = [make_request(business, number=f"+1415555012{k}") for k in range(6)]
    first = api.get("/calls", {"limit": 3}).json()
    for k in range(4):  # queued while the client reads the first page
        make_request(business, number=f"+1415555013{k}")
    second = api.get("/calls", {"limit": 3, "cursor": first["next_cursor"]}).json()

    seen = [c["id"] for c in first["items"] + second["items"]]
    assert seen == [r.pk for r in reversed(made)]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 1000},
        {"limit": 0},
        {"cursor": "not a cursor"},
        {"status": "lost"},
        {"since": "yesterday"},
    ],
)
def test_list_parameters_out_of_bounds_answer_400(api, params):
    response = api.get("/calls", params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == next(iter(params))


@pytest.mark.parametrize(
    ("since", "listed"),
    [("9999-12-31T23:59:59-23:59", 0), ("0001-01-01T00:00:00+14:00", 1), ("1899-06-01", 1)],
)
def test_a_since_beyond_the_years_python_holds_means_its_bound(api, business, since, listed):
    make_request(business)
    response = api.get("/calls", {"since": since})
    assert response.status_code == 200
    assert len(response.json()["items"]) == listed


def test_a_queued_call_is_canceled_and_a_settled_one_answers_409(api, business, queue):
    request = make_request(business)
    response = api.post(f"/calls/{request.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    request.refresh_from_db()
    assert (request.status, request.last_error) == ("canceled", "Canceled by request.")
    again = api.post(f"/calls/{request.pk}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "already-settled"
    assert queue() == []
    # The action log names the key, as it names the operator for the admin's actions.
    logged = OperatorAction.objects.order_by("id")
    assert [(a.username, a.action, a.summary, a.business) for a in logged] == [
        (f"API key {api.key[:11]}… (CRM)", "cancel", "1 request canceled.", business),
        (
            f"API key {api.key[:11]}… (CRM)",
            "cancel",
            "0 requests canceled: the selected request was canceled already.",
            business,
        ),
    ]
    assert list(logged[0].targets.values_list("object_id", flat=True)) == [request.pk]


def test_canceling_a_live_call_hangs_it_up_and_it_is_not_retried(
    api, business, queue, django_capture_on_commit_callbacks
):
    request = make_request(business, status="active", attempts=1)
    call = make_call(business, request=request, call_sid=sid(1), status=CallLog.Status.RINGING)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/calls/{request.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    request.refresh_from_db()
    call.refresh_from_db()
    assert request.cancel_requested_at and call.hang_up_requested_at
    assert request.max_attempts == 3  # not lowered: the cancel is recorded as such
    assert queue() == [("calls.tasks.hang_up_call", (call.pk,))]


def test_unknown_paths_under_the_api_answer_json_404(api):
    response = api.get("/nothing/here")
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"
    assert json.loads(api.get("/calls/abc").content)["code"] == "invalid"


def test_a_post_needs_no_csrf_token(business):
    from django.test import Client

    api = api_for(Client(enforce_csrf_checks=True), business)
    assert api.post("/calls", {"to": "+14155550123"}).status_code == 201


def test_a_number_on_the_do_not_call_list_answers_422_with_the_reason(api, business, queue):
    DoNotCall.objects.create(business=business, phone_number="+14155550123", reason="Asked us")
    response = api.post("/calls", {"to": "+14155550123"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "do-not-call"
    assert "Asked us" in body["detail"]
    assert not CallRequest.objects.exists() and queue() == []


def test_a_number_outside_its_window_is_queued_for_the_opening_and_says_so(
    api, window_clock, queue
):
    window_clock.set(datetime(2026, 1, 14, 12, tzinfo=UTC))  # 04:00 in Los Angeles
    response = api.post("/calls", {"to": "+14155550123"})
    assert response.status_code == 201, response.content
    body = response.json()
    opening = datetime(2026, 1, 14, 16, tzinfo=UTC)  # 08:00 in Los Angeles
    assert body["status"] == "queued"
    assert datetime.fromisoformat(body["next_attempt_at"]) == opening
    assert body["waiting_for"] == f"{DAILY} until 08:00 PST"
    assert CallRequest.objects.get().next_attempt_at == opening
