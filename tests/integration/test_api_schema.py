"""schemathesis against /api/v1/openapi.json with a live key, over WSGI in this process (the
throttle lifted): inputs generated from the schema (valid ones and ones that break it) never get
a 5xx; every answer conforms to the document (its status code is declared, its content type and
body match); and a request the document allows is never refused as malformed (400). It may be
refused with 422 for what no schema can know: a number in no numbering plan, a recording host
the business does not allow, an Idempotency-Key used for another request (api/schemas.py).
Numbers are generated as real ones (the `e164` format), so most valid requests queue calls."""

import phonenumbers
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from api.keys import api_key_create
from calls.models import Campaign
from tests.recipes import make_request

# Real numbers of every region phonenumbers knows, so valid requests reach the queue.
REAL_NUMBERS = sorted(
    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    for region in phonenumbers.SUPPORTED_REGIONS
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    if (example := phonenumbers.example_number_for_type(region, kind))
)
schemathesis.openapi.format("e164", st.sampled_from(REAL_NUMBERS))
# Schemathesis's own expectations for a valid request, and 422: refused for the data it names.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}}}
)

CHECKS = [
    positive_data_acceptance,
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
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app, config=CONFIG)


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
    assert len(operations) == 14  # calls 4, campaigns 7, consents 2, opt-outs 1
    for operation in operations:
        assert {"400", "401", "429"} <= set(operation["responses"])
        assert operation["security"] == [{"ApiKeyBearer": []}]
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "/api/v1/openapi.json" in page.content.decode()
