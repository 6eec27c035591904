"""The consent judge (compliance.consent), over any set of records: a revocation or an expiry
never makes a number callable, and a consent that fits and holds always does."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from compliance.consent import _refusal
from compliance.models import ConsentRecord
from compliance.purposes import Purpose

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)
Kind = ConsentRecord.Kind
WRITTEN_ONLY = frozenset({Kind.WRITTEN})
ANY_KIND = frozenset(Kind.values)

offsets = st.one_of(st.none(), st.integers(-1000, 1000).map(lambda h: AT + timedelta(hours=h)))
records = st.builds(
    lambda kind, purposes, captured, expires, revoked: ConsentRecord(
        kind=kind,
        purposes=purposes,
        captured_at=AT + timedelta(hours=captured),
        expires_at=expires,
        revoked_at=revoked,
    ),
    st.sampled_from(Kind.values),
    st.lists(st.sampled_from(Purpose.values), max_size=3, unique=True),
    st.integers(-1000, 1000),
    offsets,
    offsets,
)
purposes = st.sampled_from(Purpose.values)
kinds = st.sampled_from([WRITTEN_ONLY, ANY_KIND])


@given(st.lists(records, max_size=6), purposes, kinds)
def test_revoking_every_record_refuses(rows, purpose, needed):
    for row in rows:
        row.revoked_at = AT - timedelta(seconds=1)
    assert _refusal(rows, needed, purpose, AT) is not None


@given(st.lists(records, max_size=6), purposes, kinds)
def test_a_fitting_consent_that_holds_allows_whatever_else_is_on_file(rows, purpose, needed):
    holding = ConsentRecord(
        kind=Kind.WRITTEN,
        purposes=[purpose],
        captured_at=AT - timedelta(days=1),
        expires_at=AT + timedelta(seconds=1),
        revoked_at=None,
    )
    assert _refusal([*rows, holding], needed, purpose, AT) is None


@given(st.lists(records, max_size=6), purposes, kinds)
def test_a_record_of_another_purpose_or_kind_never_allows(rows, purpose, needed):
    for row in rows:
        if purpose in row.purposes:
            row.purposes = [p for p in row.purposes if p != purpose]
    assert _refusal(rows, needed, purpose, AT) is not None
    express = [
        ConsentRecord(kind=Kind.EXPRESS, purposes=[purpose], captured_at=AT - timedelta(days=1))
    ]
    assert _refusal(express, WRITTEN_ONLY, purpose, AT) is not None
