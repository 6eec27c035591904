"""Whatever JSON a client sends as a call's metadata or a lead's name, the answer is 201 with
the metadata as sent, or 400 naming the field: never a 5xx (PostgreSQL refuses NUL and lone
surrogates that SQLite would take)."""

import functools
import json

import jsonschema
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import CallRequest
from tests.api_client import api_for

TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def same_json(a, b) -> bool:
    """Equal as JSON: PostgreSQL keeps a number's decimal value, not Python's int/float type."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(metadata=st.dictionaries(TEXT, JSON, max_size=4), name=TEXT)
def test_any_metadata_is_kept_as_sent_or_refused_by_name(client, business, metadata, name):
    CallRequest.objects.all().delete()  # examples share the test's transaction
    api = api_for(client, business)
    raw = json.dumps({"to": "+14155550123", "lead": {"name": name}, "metadata": metadata})
    response = api.post("/calls", raw=raw)
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        assert same_json(response.json()["metadata"], metadata)
        assert same_json(CallRequest.objects.get(pk=response.json()["id"]).metadata, metadata)
    else:
        fields = {e["field"].split(".")[0] for e in response.json()["errors"]}
        assert fields <= {"metadata", "lead"} and fields


@functools.cache
def metadata_validator():
    """The document's schema of `metadata`, as a client generated from it checks it."""
    document = Client().get("/api/v1/openapi.json").json()
    schema = {
        **document["components"]["schemas"]["CallIn"]["properties"]["metadata"],
        "components": document["components"],
    }
    return jsonschema.Draft202012Validator(schema)


def depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def has_lone_surrogate(value) -> bool:
    texts = json.dumps(value, ensure_ascii=False)
    return any(0xD800 <= ord(c) <= 0xDFFF for c in texts)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    metadata=st.dictionaries(
        TEXT | st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=95, max_size=105),
        JSON | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
        max_size=4,
    )
)
def test_the_document_s_metadata_schema_refuses_exactly_what_the_server_does(
    client, business, metadata
):
    """A client validating against /api/v1/openapi.json agrees with the server, save for what
    the schema can only state in words: lone surrogates, the nesting depth, the size."""
    CallRequest.objects.all().delete()
    if has_lone_surrogate(metadata) or depth(metadata) > 8:
        return
    if len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()) > 4096:
        return
    client_says = metadata_validator().is_valid(metadata)
    response = api_for(client, business).post(
        "/calls", {"to": "+14155550123", "metadata": metadata}
    )
    assert response.status_code == (201 if client_says else 400), (metadata, response.content)
