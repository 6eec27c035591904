"""The consent judge (compliance.consent), over any set of records: a revocation or an expiry
never makes a number callable, and a consent that fits and holds always does."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from compliance.consent import ConsentTerms, _refusal
from compliance.models import ConsentRecord, grant_bits
from compliance.purposes import Purpose

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)
Kind = ConsentRecord.Kind
WRITTEN_ONLY = frozenset({Kind.WRITTEN})
ANY_KIND = frozenset(Kind.values)

offsets = st.one_of(st.none(), st.integers(-1000, 1000).map(lambda h: AT + timedelta(hours=h)))


def terms(kind, purposes, *, captured_at, expires_at=None, revoked_at=None) -> ConsentTerms:
    """A record's terms as the claim's lookup reads them."""
    return ConsentTerms(
        phone_number="+14155550100",
        grants=grant_bits([kind], purposes),
        captured_at=captured_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


records = st.builds(
    lambda kind, purposes, captured, expires, revoked: (
        kind,
        purposes,
        terms(
            kind,
            purposes,
            captured_at=AT + timedelta(hours=captured),
            expires_at=expires,
            revoked_at=revoked,
        ),
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
    revoked = [row._replace(revoked_at=AT - timedelta(seconds=1)) for _, _, row in rows]
    assert _refusal(revoked, needed, purpose, AT) is not None


@given(st.lists(records, max_size=6), purposes, kinds)
def test_a_fitting_consent_that_holds_allows_whatever_else_is_on_file(rows, purpose, needed):
    holding = terms(
        Kind.WRITTEN,
        [purpose],
        captured_at=AT - timedelta(days=1),
        expires_at=AT + timedelta(seconds=1),
    )
    assert _refusal([*(row for _, _, row in rows), holding], needed, purpose, AT) is None


@given(st.lists(records, max_size=6), purposes, kinds)
def test_a_record_of_another_purpose_or_kind_never_allows(rows, purpose, needed):
    others = [
        row._replace(grants=grant_bits([kind], [p for p in purposes if p != purpose]))
        for kind, purposes, row in rows
    ]
    assert _refusal(others, needed, purpose, AT) is not None
    express = [terms(Kind.EXPRESS, [purpose], captured_at=AT - timedelta(days=1))]
    assert _refusal(express, WRITTEN_ONLY, purpose, AT) is not None
