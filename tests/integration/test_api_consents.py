"""/api/v1/consents and /api/v1/opt-outs over HTTP, and the API's 422 `no-consent`."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from calls import tasks
from calls.models import CallRequest, Campaign, DoNotCall
from compliance.models import ConsentRecord
from compliance.purposes import Purpose
from tests.api_client import api_for
from tests.recipes import NUMBER, consent_on_file, make_request

OTHER = "+14155550124"
SHA = "a" * 64


@pytest.fixture
def api(client, business):
    return api_for(client, business)


@pytest.fixture
def sales(business):
    return baker.make(Campaign, business=business, name="spring", purpose=Purpose.TELEMARKETING)


def written(to=NUMBER, **changes):
    return {
        "to": to,
        "kind": "written",
        "purposes": ["telemarketing"],
        "source": "web_form",
        "evidence": "Ticked 'Call me about offers' on the spring form.",
        "evidence_url": "https://forms.example.com/submissions/1017",
        "evidence_sha256": SHA,
        "captured_at": "2026-11-20T10:00:00Z",
        **changes,
    }


def test_queuing_a_call_without_consent_answers_422_no_consent(api, sales, queue):
    response = api.post("/calls", {"to": NUMBER, "campaign": sales.pk})
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "no-consent"
    assert body["detail"].startswith("No consent on file: telemarketing calls need")
    assert not CallRequest.objects.exists()
    assert queue() == []


def test_a_consent_recorded_over_the_api_lets_the_call_be_queued_and_dialed(
    api, business, sales, fake_twilio
):
    response = api.post("/consents", written())
    assert response.status_code == 201, response.content
    body = response.json()
    row = ConsentRecord.objects.get()
    assert body["id"] == row.pk
    assert (body["to"], body["kind"], body["purposes"], body["evidence_sha256"]) == (
        NUMBER,
        "written",
        ["telemarketing"],
        SHA,
    )
    assert (row.business, row.source, row.captured_at) == (
        business,
        "web_form",
        datetime(2026, 11, 20, 10, tzinfo=UTC),
    )
    assert api.post("/calls", {"to": NUMBER, "campaign": sales.pk}).status_code == 201
    tasks.dispatch(business.pk)
    assert [c["to"] for c in fake_twilio.created] == [NUMBER]


def test_a_list_records_a_batch_in_order_or_nothing(api):
    response = api.post("/consents", [written(), written(to=OTHER)])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["recorded"] == 2
    stored = ConsentRecord.objects.in_bulk(body["ids"])
    assert [stored[pk].phone_number for pk in body["ids"]] == [NUMBER, OTHER]
    assert ConsentRecord.objects.count() == 2

    bad = [
        written(),
        written(to="+10005550123"),
        written(evidence="", evidence_url="", evidence_sha256=""),
    ]
    response = api.post("/consents", bad)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid-consent"
    assert {e["field"] for e in body["errors"]} == {"1.to", "2.evidence"}
    assert ConsentRecord.objects.count() == 2


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"kind": "business_relationship"}, "relationship"),
        (
            {"relationship": "transaction", "relationship_at": "2026-11-01T00:00:00Z"},
            "relationship",
        ),
        ({"captured_at": "2999-01-01T00:00:00Z"}, "captured_at"),
    ],
)
def test_a_consent_the_service_cannot_take_answers_422_naming_the_field(api, changes, field):
    response = api.post("/consents", written(**changes))
    assert response.status_code == 422, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not ConsentRecord.objects.exists()


def test_a_business_relationship_gets_its_term_as_expiry(api):
    response = api.post(
        "/consents",
        written(
            kind="business_relationship",
            purposes=["informational"],
            relationship="inquiry",
            relationship_at="2026-11-30T12:00:00Z",
        ),
    )
    assert response.status_code == 201, response.content
    assert response.json()["expires_at"] == "2027-02-28T12:00:00Z"


@pytest.mark.parametrize(
    "body",
    [
        {"to": NUMBER},
        written(to="4155550123"),
        written(kind="oral"),
        written(purposes=[]),
        written(evidence_sha256="xyz"),
        written(captured_at="yesterday"),
        written(surprise=1),
    ],
)
def test_a_malformed_consent_answers_400(api, body):
    assert api.post("/consents", body).status_code == 400
    assert not ConsentRecord.objects.exists()


def test_reading_a_number_s_consents_shows_only_the_business_s_newest_first(api, business, rival):
    old = consent_on_file(business)
    new = consent_on_file(business, kind="express", purposes=["informational"])
    ConsentRecord.objects.filter(pk=new.pk).update(captured_at=timezone.now())
    consent_on_file(rival)
    consent_on_file(business, number=OTHER)
    response = api.get("/consents", {"to": NUMBER})
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["items"]] == [new.pk, old.pk]
    assert api.get("/consents", {"to": "+10005550123"}).json()["code"] == "invalid-number"
    assert api.get("/consents").status_code == 400


def test_an_opt_out_over_the_api_revokes_lists_and_cancels(api, business, sales):
    consent_on_file(business)
    request = make_request(business, campaign=sales)
    response = api.post("/opt-outs", {"to": NUMBER, "reason": "said so on the phone"})
    assert response.status_code == 200, response.content
    assert response.json() == {"to": NUMBER, "consents_revoked": 1, "requests_canceled": 1}
    row = ConsentRecord.objects.get()
    assert (row.revoked_via, row.revoked_note) == ("api", "said so on the phone")
    assert row.revoked_at > timezone.now() - timedelta(seconds=5)
    listed = DoNotCall.objects.get()
    assert (listed.business, listed.phone_number, listed.reason) == (
        business,
        NUMBER,
        "said so on the phone",
    )
    request.refresh_from_db()
    assert request.status == "canceled"
    assert request.last_error == "On the do-not-call list: said so on the phone"


def test_opt_outs_in_bulk_answer_one_result_each(api, business):
    response = api.post("/opt-outs", [{"to": NUMBER}, {"to": OTHER}])
    assert response.status_code == 200, response.content
    assert [r["to"] for r in response.json()] == [NUMBER, OTHER]
    assert set(DoNotCall.objects.values_list("phone_number", flat=True)) == {NUMBER, OTHER}
    response = api.post("/opt-outs", [{"to": NUMBER}, {"to": "+10005550123"}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "1.to"


def test_the_document_declares_the_consent_operations(api):
    document = api.client.get("/api/v1/openapi.json").json()
    assert {"post", "get"} <= set(document["paths"]["/api/v1/consents"])
    created = document["paths"]["/api/v1/consents"]["post"]["responses"]["201"]
    answers = created["content"]["application/json"]["schema"]["anyOf"]
    assert {a["$ref"].rpartition("/")[2] for a in answers} == {"ConsentOut", "ConsentsRecorded"}
    assert set(document["components"]["schemas"]["ConsentsRecorded"]["required"]) == {
        "recorded",
        "ids",
    }
    assert "post" in document["paths"]["/api/v1/opt-outs"]


def test_reading_a_call_says_which_consent_allows_it(api, business, sales):
    row = consent_on_file(business)
    created = api.post("/calls", {"to": NUMBER, "campaign": sales.pk}).json()
    assert created["consent"] == ""
    read = api.get(f"/calls/{created['id']}").json()
    assert read["consent"].startswith(f"Prior express written consent #{row.pk}, captured ")
    own = api.post("/calls", {"to": OTHER}).json()
    assert api.get(f"/calls/{own['id']}").json()["consent"] == (
        "Not needed: informational calls need no consent record for this business."
    )
    assert {c["consent"] for c in api.get("/calls").json()["items"]} == {""}
