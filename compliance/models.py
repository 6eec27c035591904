"""The compliance app's models: the do-not-call lists (moved from `calls`, their table kept;
`calls.models` still exports DoNotCall for the code that imports it from there) and the
consents on file."""

import json
import operator
from collections.abc import Iterable
from functools import reduce

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Case, F, Func, Q, Value, When

from calls.phone import validate_e164
from compliance.purposes import Purpose

REASON_MAX = 500


class DoNotCall(models.Model):
    """A number that must not be called: by one business, or (no business) by any.

    Kept when the number is erased from a business's calls (calls/services/erasure.py): the
    opt-out is the one thing the law requires the service to remember about the person.
    """

    business = models.ForeignKey(
        "calls.Business",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="do_not_call",
        help_text="Empty: no business may call the number (superusers only).",
    )
    phone_number = models.CharField(
        max_length=16, validators=[validate_e164], help_text="E.164, e.g. +14155550123."
    )
    reason = models.CharField(max_length=REASON_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The call in which the callee pressed the opt-out key; NULL once retention deletes it.
    source_call = models.ForeignKey(
        "calls.CallLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "calls_donotcall"  # where it was made, in the calls app
        verbose_name = "do-not-call number"
        constraints = [
            # Enqueue and dispatch: is one of these numbers listed by this business.
            models.UniqueConstraint(
                fields=["business", "phone_number"],
                condition=Q(business__isnull=False),
                name="do_not_call_one_per_business_number",
                violation_error_message="This number is already on the business's list.",
            ),
            # Enqueue and dispatch: is one of these numbers listed for every business.
            models.UniqueConstraint(
                fields=["phone_number"],
                condition=Q(business__isnull=True),
                name="do_not_call_one_global_per_number",
                violation_error_message="This number is already on the list of every business.",
            ),
        ]

    def __str__(self):
        return self.phone_number


# A hex SHA-256 of the evidence document (a signed form, a recording): proves which document it
# was without keeping it here.
SHA256_PATTERN = r"^[0-9a-f]{64}$"


# What a consent record allows, as bits: one for each (kind, purpose) it covers, the purpose's bit
# shifted by its kind's place. A record grants grant_bits([kind], purposes); a call for a purpose
# needs any of grant_bits(kinds, [purpose]): it may go when the two share a bit. Stored: the
# values of these maps are in the rows (ConsentRecord.grants), so they never change.
KIND_SHIFT = {"written": 0, "express": 3, "business_relationship": 6}
PURPOSE_BIT = {Purpose.TELEMARKETING: 1, Purpose.INFORMATIONAL: 2, Purpose.DEBT_COLLECTION: 4}


def grant_bits(kinds: Iterable[str], purposes: Iterable[str]) -> int:
    return sum({PURPOSE_BIT[p] << KIND_SHIFT[k] for k in kinds for p in purposes})


class JSONListHas(Func):
    """Whether a JSON list of strings holds `item`, in SQL a generated column may use: jsonb's
    `?` on PostgreSQL; on SQLite, whose JSON is text, whether the text holds the item quoted."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, field: str, item: str):
        super().__init__(F(field))
        self.item = item

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ? %s)", [*params, self.item]

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(instr({sql}, %s) > 0)", [*params, json.dumps(self.item)]


def _grants_expression():
    """ConsentRecord.grants in SQL: grant_bits([kind], purposes)."""
    kind_place = Case(
        *[When(kind=kind, then=Value(1 << shift)) for kind, shift in KIND_SHIFT.items()],
        default=Value(0),
    )
    purpose_bits = [
        Case(When(JSONListHas("purposes", str(purpose)), then=Value(bit)), default=Value(0))
        for purpose, bit in PURPOSE_BIT.items()
    ]
    return kind_place * reduce(operator.add, purpose_bits)


class ConsentRecord(models.Model):
    """A person's consent to a business's artificial-voice calls to one number, with its proof.

    Never deleted (kept at least five years after it ends, as the proof a caller must be able to
    show): a revocation sets `revoked_at`, an erasure removes the number and the evidence's text
    and keeps a keyed hash of the number, the document's hash, the dates and the revocation.
    """

    class Kind(models.TextChoices):
        WRITTEN = "written", "Prior express written consent"
        EXPRESS = "express", "Prior express consent"
        BUSINESS_RELATIONSHIP = "business_relationship", "Established business relationship"

    class Relationship(models.TextChoices):
        TRANSACTION = "transaction", "Last transaction (18 months)"
        INQUIRY = "inquiry", "Inquiry or application (3 months)"

    class Source(models.TextChoices):
        WEB_FORM = "web_form", "Web form"
        IMPORT = "import", "Import"
        API = "api", "API"
        CALL = "call", "Call"

    class RevokedVia(models.TextChoices):
        KEYPRESS = "keypress", "Keypress during a call"
        INBOUND_CALL = "inbound_call", "Keypress on a call to the business"
        API = "api", "API"
        ADMIN = "admin", "Admin"
        ERASURE = "erasure", "Erasure of the number"

    # No index of its own: consent_business_number_grants leads with it, and one more index to
    # keep up would cost every record written (an import writes thousands a second).
    business = models.ForeignKey(
        "calls.Business", on_delete=models.PROTECT, related_name="consents", db_index=False
    )
    # E.164; "erased" once the number is erased (number_hash keeps what finds it again).
    phone_number = models.CharField(max_length=16)
    kind = models.CharField(max_length=24, choices=Kind)
    purposes = models.JSONField(
        default=list, help_text="The purposes it covers: telemarketing, informational, …"
    )
    # What kind and purposes allow, as grant_bits: the database keeps it, so no way of writing a
    # record can leave it stale, and the claim's check reads 2 bytes instead of the two columns.
    grants = models.GeneratedField(
        expression=_grants_expression(),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
    )
    source = models.CharField(max_length=16, choices=Source)
    captured_at = models.DateTimeField(help_text="When the person gave it.")
    relationship = models.CharField(
        max_length=16, choices=Relationship, blank=True, help_text="A business relationship's."
    )
    relationship_at = models.DateTimeField(
        null=True, blank=True, help_text="The last transaction, or the inquiry."
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: until revoked. A relationship's is set for it."
    )
    evidence_text = models.TextField(blank=True, help_text="What the person agreed to, and how.")
    evidence_url = models.URLField(max_length=500, blank=True)
    evidence_sha256 = models.CharField(
        max_length=64,
        blank=True,
        validators=[RegexValidator(SHA256_PATTERN, "64 lowercase hex digits.")],
        help_text="SHA-256 of the evidence document, in hex.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_via = models.CharField(max_length=16, choices=RevokedVia, blank=True)
    revoked_note = models.CharField(max_length=500, blank=True)
    number_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        indexes = [
            # consent_refusals (enqueue, the claim, the create), revocation and GET
            # /api/v1/consents?to=: a business's rows for many numbers in one lookup. It includes
            # what the judgement reads (consent.ConsentTerms), so the claim's check is an
            # index-only scan on PostgreSQL (SQLite ignores `include`); `grants` in place of
            # kind and purposes makes it a third smaller than with them.
            models.Index(
                fields=["business", "phone_number"],
                include=["grants", "captured_at", "expires_at", "revoked_at"],
                name="consent_business_number_grants",
            ),
        ]
        constraints = [
            # The proof of a revocation says how it came (keypress, API, admin, erasure).
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | ~models.Q(revoked_via=""),
                name="consent_revocation_says_how",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.phone_number}"
