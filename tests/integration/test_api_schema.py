"""schemathesis against /api/v1/openapi.json with a live key, over WSGI in this process: inputs
generated from the schema (valid ones and ones that break it) never get a 5xx, and every answer
conforms to the document: its status code is declared, its content type and body match."""

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.keys import api_key_create
from calls.models import Campaign
from tests.recipes import make_request

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app(db):
    # As Django's test client does: a request's end must not close the test's connection
    # (its transaction holds every row the test made).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app)


@pytest.fixture
def api_key(business, settings):
    settings.API_RATE_PER_MINUTE = 1_000_000
    # Rows for the generated ids to find: a request and a campaign of the key's business.
    campaign = Campaign.objects.create(business=business, name="spring")
    make_request(business, campaign=campaign)
    return api_key_create(business=business, name="schemathesis")[1]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_schema_and_never_answers_5xx(case, api_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {api_key}"}, checks=CHECKS)


def test_the_document_declares_every_error_and_its_pages_are_served(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"] == {
        "ApiKeyBearer": {"type": "http", "scheme": "bearer"}
    }
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len(operations) == 11
    for operation in operations:
        assert {"400", "401", "429"} <= set(operation["responses"])
        assert operation["security"] == [{"ApiKeyBearer": []}]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "/api/v1/openapi.json" in page.content.decode()
