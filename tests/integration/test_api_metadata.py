"""Whatever JSON a client sends as a call's metadata or a lead's name, the answer is 201 with
the metadata as sent, or 400 naming the field: never a 5xx (PostgreSQL refuses NUL and lone
surrogates that SQLite would take)."""

import json

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
