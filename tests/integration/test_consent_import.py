"""Recording consents in bulk (`consents_record`, `consents_import`): every row checked as one
record is, the batch written at once (COPY on PostgreSQL, bulk_create elsewhere) with every
field as given, all or none, and the ids answered in order."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance import consent_records
from compliance.consent_records import (
    COPY_COLUMNS,
    ConsentGiven,
    consent_record_build,
    consents_import,
    consents_record,
)
from compliance.models import ConsentRecord
from tests.recipes import NUMBER

CAPTURED = datetime(2026, 11, 20, 10, tzinfo=UTC)
# What COPY's text format must escape, and what it must not mangle.
AWKWARD_TEXT = 'Said "yes"\tthen\\N, on two\nlines\r\nand in é, 中文, \\\\ and \\t.'
CSV_HEADER = "number,kind,purposes,source,captured_at,evidence,evidence_sha256,relationship\n"

FIELDS = [
    "business_id",
    "phone_number",
    "kind",
    "purposes",
    "source",
    "captured_at",
    "relationship",
    "relationship_at",
    "expires_at",
    "evidence_text",
    "evidence_url",
    "evidence_sha256",
    "revoked_at",
    "revoked_via",
    "revoked_note",
    "number_hash",
    "created_by_id",
]


def given(number=NUMBER, **fields):
    fields.setdefault("kind", "written")
    fields.setdefault("purposes", ["telemarketing"])
    fields.setdefault("source", "import")
    fields.setdefault("captured_at", CAPTURED)
    fields.setdefault("evidence_text", "Signed the spring form.")
    return ConsentGiven(number=number, **fields)


def batch():
    return [
        given(),
        given(
            "(416) 555-0123",
            kind="express",
            purposes=["informational", "debt_collection", "informational"],
            source="web_form",
            evidence_text=AWKWARD_TEXT,
            evidence_url="https://forms.example.com/s/1?a=1&b=%09",
            evidence_sha256="AB" * 32,
            expires_at=datetime(2027, 6, 1, tzinfo=UTC),
        ),
        given(
            "+18095550123",
            kind="business_relationship",
            purposes=["informational"],
            relationship="inquiry",
            relationship_at=datetime(2026, 11, 1, 12, 30, tzinfo=UTC),
            evidence_text="",
            evidence_sha256="c" * 64,
        ),
    ]


def test_a_batch_is_stored_field_for_field_as_one_record_is_built(business):
    user = get_user_model().objects.create_user("manager", password="x")
    ids = consents_record(business=business, given=batch(), created_by=user)

    assert len(ids) == 3 and ids == sorted(ids)
    stored = ConsentRecord.objects.in_bulk(ids)
    for pk, one in zip(ids, batch(), strict=True):
        built = consent_record_build(business=business, given=one, created_by=user)
        row = stored[pk]
        assert {f: getattr(row, f) for f in FIELDS} == {f: getattr(built, f) for f in FIELDS}
        assert timezone.now() - row.created_at < timedelta(minutes=1)
    assert stored[ids[1]].evidence_text == AWKWARD_TEXT
    assert stored[ids[1]].phone_number == "+14165550123"
    assert stored[ids[1]].purposes == ["debt_collection", "informational"]
    assert stored[ids[1]].evidence_sha256 == "ab" * 32
    assert stored[ids[2]].expires_at == datetime(2027, 2, 1, 12, 30, tzinfo=UTC)
    assert stored[ids[0]].created_by == user
    assert ConsentRecord.objects.count() == 3


def test_the_ids_follow_the_order_given_after_other_rows(business, rival):
    (first,) = consents_record(business=rival, given=[given()])
    numbers = [f"+1212555{n:04d}" for n in range(50)]
    ids = consents_record(business=business, given=[given(n) for n in numbers])
    stored = ConsentRecord.objects.in_bulk(ids)
    assert [stored[pk].phone_number for pk in ids] == numbers
    assert min(ids) > first
    assert {row.business_id for row in stored.values()} == {business.pk}
    # The sequence moved past the batch: a record added after it gets a new id.
    later = consent_record_build(business=business, given=given())
    later.save()
    assert later.pk > max(ids)


def test_a_bad_row_refuses_the_whole_batch_naming_each(business):
    bad = [
        given(),
        given("+19115550123"),
        given(evidence_text=""),
        given(kind="business_relationship", relationship="friendship", relationship_at=CAPTURED),
        given(evidence_sha256="z" * 64),
        given(evidence_url="https://example.com/" + "a" * 500),
        given(evidence_text="nul\x00byte"),
    ]
    with pytest.raises(ValidationError) as refused:
        consents_record(business=business, given=bad)
    assert set(refused.value.message_dict) == {
        "1.to",
        "2.evidence",
        "3.relationship",
        "4.evidence_sha256",
        "5.evidence_url",
        "6.evidence",
    }
    assert not ConsentRecord.objects.exists()


def test_the_copy_columns_are_the_model_s(db):
    written = [f.column for f in ConsentRecord._meta.concrete_fields if not f.generated]
    assert COPY_COLUMNS == written


def test_an_import_refused_in_a_later_chunk_records_nothing(business, monkeypatch):
    monkeypatch.setattr(consent_records, "BATCH_MAX", 2)
    rows = [
        (
            n + 2,
            {
                "number": f"+1212555{n:04d}",
                "kind": "written",
                "purposes": "telemarketing",
                "captured_at": "2026-11-20T10:00:00Z",
                "evidence": "form",
            },
        )
        for n in range(5)
    ]
    rows[4][1]["number"] = "+19115550123"
    with pytest.raises(ValidationError) as refused:
        consents_import(business=business, rows=rows)
    assert list(refused.value.message_dict) == ["line 6: to"]
    assert not ConsentRecord.objects.exists()

    assert consents_import(business=business, rows=rows[:4]) == 4
    assert ConsentRecord.objects.count() == 4


def test_the_command_names_each_refused_line_and_records_nothing(business, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        CSV_HEADER
        + "+14155550125,written,telemarketing,,2026-11-20T10:00:00Z,form,,\n"
        + "+14155550126,business_relationship,informational,,2026-11-20T10:00:00Z,form,,"
        "friendship\n"
        + f"+14155550127,written,telemarketing,,2026-11-20T10:00:00Z,form,{'g' * 64},\n"
    )
    errors = StringIO()
    with pytest.raises(CommandError, match="Nothing recorded: 2 row"):
        call_command("import_consents", str(bad), "--business", str(business.pk), stderr=errors)
    assert errors.getvalue().splitlines() == [
        "line 3: relationship: A business relationship needs its kind (transaction or inquiry) "
        "and date.",
        "line 4: evidence_sha256: 64 hex digits.",
    ]
    assert not ConsentRecord.objects.exists()


def test_importing_a_file_twice_records_each_consent_twice(business, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(
        CSV_HEADER
        + "+14155550125,written,telemarketing,,2026-11-20T10:00:00Z,form 1,,\n"
        + '+14165550126,written,telemarketing;informational,,2026-11-20T10:00:00Z,"a, b",,\n'
    )
    for _ in range(2):
        call_command(
            "import_consents", str(good), "--business", str(business.pk), stdout=StringIO()
        )
    rows = ConsentRecord.objects.order_by("id")
    assert [(r.phone_number, r.evidence_text) for r in rows] == [
        ("+14155550125", "form 1"),
        ("+14165550126", "a, b"),
    ] * 2
    assert {r.source for r in rows} == {"import"}
