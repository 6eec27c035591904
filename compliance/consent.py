"""Consent before an artificial-voice call: which consent a call needs for its purpose, and which
numbers lack one, judged in one indexed lookup for all of them.

Every call this service places speaks with an artificial voice, so under the TCPA (47 U.S.C.
227(b), 47 CFR 64.1200(a)(2)-(3)) it needs the callee's prior express consent, written for
telemarketing. The policy:
- telemarketing: a written consent covering telemarketing, always (a campaign a superuser marked
  exempt, with its reason, is not checked);
- informational and debt collection: none on file by default (giving a number for a transaction
  is consent to calls about it); with `Business.requires_consent_records`, an express or written
  consent, or a business relationship still in its term, covering that purpose.
A consent counts from `captured_at` until `expires_at` or its revocation, whichever comes first.
Enqueue refuses a number that lacks one; the claim and the moment of the create judge again and
cancel a request whose consent was revoked or expired meanwhile (nothing is dialed).
"""

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import NamedTuple

from dateutil.relativedelta import relativedelta
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from calls.models import Business, CallRequest, Campaign
from compliance.models import ConsentRecord, grant_bits
from compliance.purposes import Purpose

Kind = ConsentRecord.Kind

# Every refusal or cancel for consent starts with this: a campaign's requests canceled for
# consent are a `last_error__startswith` on it.
NO_CONSENT_PREFIX = "No consent on file"
# Numbers per lookup query: well under SQLite's and PostgreSQL's parameter limits.
LOOKUP_BATCH = 500

# An established business relationship lasts 18 months after the last transaction and 3 months
# after an inquiry or application (47 CFR 64.1200(f)(5)).
RELATIONSHIP_TERM = {
    ConsentRecord.Relationship.TRANSACTION: relativedelta(months=18),
    ConsentRecord.Relationship.INQUIRY: relativedelta(months=3),
}


def consent_kinds_required(*, business: Business, purpose: str) -> frozenset[str] | None:
    """The kinds of consent that allow a call for `purpose`; None when none need be on file."""
    if purpose == Purpose.TELEMARKETING:
        return frozenset({Kind.WRITTEN})
    if business.requires_consent_records:
        return frozenset({Kind.WRITTEN, Kind.EXPRESS, Kind.BUSINESS_RELATIONSHIP})
    return None


def relationship_expiry(*, relationship: str, at: datetime) -> datetime:
    return at + RELATIONSHIP_TERM[relationship]


class ConsentTerms(NamedTuple):
    """What the judgement reads of a consent record: the columns the (business, number) index
    includes, so the check never reads the table. `grants`: what its kind and purposes allow
    (models.grant_bits)."""

    phone_number: str
    grants: int
    captured_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


# The claim's lookup on PostgreSQL: the numbers as one array parameter, and what it reads all
# included in the index (an index-only scan).
TERMS_SQL = (
    f"SELECT {', '.join(ConsentTerms._fields)} FROM {ConsentRecord._meta.db_table} "
    "WHERE business_id = %s AND phone_number = ANY(%s)"
)


def consents_of(*, business_id: int, numbers: Iterable[str]) -> dict[str, list[ConsentTerms]]:
    """The terms of the business's consents for `numbers`, by number: one query per LOOKUP_BATCH
    numbers over `consent_business_number_grants`.

    On PostgreSQL as plain SQL: the claim runs it for every batch it claims, and building the
    ORM's query and converting its rows cost about as much as the index-only scan (issue 21:
    100 numbers among 10 million rows in 2 ms). Elsewhere (SQLite) with the ORM."""
    numbers = sorted(set(numbers))
    found: dict[str, list[ConsentTerms]] = {}
    for start in range(0, len(numbers), LOOKUP_BATCH):
        batch = numbers[start : start + LOOKUP_BATCH]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(TERMS_SQL, [business_id, batch])
                rows = cursor.fetchall()
        else:
            rows = ConsentRecord.objects.filter(
                business_id=business_id, phone_number__in=batch
            ).values_list(*ConsentTerms._fields)
        for row in rows:
            terms = ConsentTerms._make(row)
            found.setdefault(terms.phone_number, []).append(terms)
    return found


# The judgement reads the terms of the claim's lookup, or the whole records of the admin's summary.
Consent = ConsentTerms | ConsentRecord


@cache
def _needed_bits(kinds: frozenset[str], purpose: str) -> int:
    """The grants of which a call for `purpose` needs one: asked for every number of a check,
    so computed once per pair (half a microsecond each time, a tenth of a ms per 100 numbers)."""
    return grant_bits(kinds, [purpose])


def _holding(rows: list[Consent], kinds: frozenset[str], purpose: str, at) -> Consent | None:
    """The first of `rows` that allows a call for `purpose` at `at`, or None."""
    needed = _needed_bits(kinds, purpose)
    for row in rows:
        if (
            row.grants & needed
            and row.captured_at <= at
            and (row.expires_at is None or row.expires_at > at)
            and (row.revoked_at is None or row.revoked_at > at)
        ):
            return row
    return None


def _refusal(rows: list[Consent], kinds: frozenset[str], purpose: str, at) -> str | None:
    """Why `rows` allow no call for `purpose` at `at`, or None when one of them does. The reason
    names the closest thing there was: a revoked or expired consent rather than none."""
    if _holding(rows, kinds, purpose, at) is not None:
        return None
    bits = _needed_bits(kinds, purpose)
    fitting = [r for r in rows if r.grants & bits]
    what = f"{Purpose(purpose).label.split(' (')[0].lower()} calls"
    needed = "written consent" if kinds == {Kind.WRITTEN} else "consent"
    revoked = [r.revoked_at for r in fitting if r.revoked_at is not None and r.revoked_at <= at]
    if revoked:
        when = max(revoked)
        return f"{NO_CONSENT_PREFIX}: the {needed} to {what} was revoked on {when:%Y-%m-%d}."
    expired = [r.expires_at for r in fitting if r.expires_at is not None and r.expires_at <= at]
    if expired:
        return f"{NO_CONSENT_PREFIX}: the {needed} to {what} expired on {max(expired):%Y-%m-%d}."
    return f"{NO_CONSENT_PREFIX}: {what} need a {needed} for this number."


def consent_refusals(
    *, business: Business, numbers: Iterable[str], purpose: str, at: datetime | None = None
) -> dict[str, str]:
    """The numbers (E.164) that may not be called for `purpose` at `at` (now by default) for
    want of a valid consent, each with the reason; one indexed lookup for all of them."""
    kinds = consent_kinds_required(business=business, purpose=purpose)
    if kinds is None:
        return {}
    at = at or timezone.now()
    numbers = list(numbers)
    rows = consents_of(business_id=business.pk, numbers=numbers)
    refusals = {}
    for number in numbers:
        if reason := _refusal(rows.get(number, []), kinds, purpose, at):
            refusals[number] = reason
    return refusals


def call_purpose(*, business: Business, campaign: Campaign | None) -> str:
    """Why a call is made: its campaign's purpose, else its business's default."""
    return campaign.purpose if campaign else business.default_purpose


def consent_refusal(
    *, business: Business, campaign: Campaign | None, number: str, at: datetime | None = None
) -> str | None:
    """Why `number` may not be called in `campaign` (None: a call of the business's own) for
    want of consent, or None. A campaign a superuser marked exempt needs none."""
    if campaign and campaign.consent_exempt_reason:
        return None
    purpose = call_purpose(business=business, campaign=campaign)
    return consent_refusals(business=business, numbers=[number], purpose=purpose, at=at).get(number)


def request_consent_summary(request: CallRequest) -> str:
    """What allows a call for `request` now, or why none may be placed, or why no consent is
    needed, in one sentence (its admin page)."""
    business, campaign = request.business, request.campaign
    if campaign and campaign.consent_exempt_reason:
        return f"Not needed: the campaign is exempt ({campaign.consent_exempt_reason})."
    purpose = call_purpose(business=business, campaign=campaign)
    kinds = consent_kinds_required(business=business, purpose=purpose)
    what = f"{Purpose(purpose).label.split(' (')[0].lower()} calls"
    if kinds is None:
        return f"Not needed: {what} need no consent record for this business."
    at = timezone.now()
    rows = list(
        ConsentRecord.objects.filter(business_id=business.pk, phone_number=request.to_number)
    )
    if (row := _holding(rows, kinds, purpose, at)) is None:
        return _refusal(rows, kinds, purpose, at)
    until = f"until {row.expires_at:%Y-%m-%d}" if row.expires_at else "until revoked"
    return (
        f"{row.get_kind_display()} #{row.pk}, captured {row.captured_at:%Y-%m-%d} "
        f"({row.get_source_display().lower()}), {until}."
    )


def requests_cancel_without_consent(
    *, business: Business, requests: list[CallRequest], at: datetime | None = None
) -> list[CallRequest]:
    """The claim's check: cancels each of `requests` (queued, of `business`) whose number lacks a
    valid consent for its purpose at `at` (now), with the reason, and returns the others. One lookup
    for the campaigns and one per LOOKUP_BATCH numbers, whatever the mix of purposes."""
    campaigns = {
        pk: (purpose, exempt)
        for pk, purpose, exempt in Campaign.objects.filter(
            pk__in={r.campaign_id for r in requests if r.campaign_id}
        ).values_list("pk", "purpose", "consent_exempt_reason")
    }
    needing = {}
    for request in requests:
        purpose, exempt = campaigns.get(request.campaign_id, (business.default_purpose, ""))
        kinds = consent_kinds_required(business=business, purpose=purpose)
        if kinds is not None and not exempt:
            needing[request.pk] = (kinds, purpose)
    if not needing:
        return requests
    at = at or timezone.now()
    rows = consents_of(
        business_id=business.pk, numbers=[r.to_number for r in requests if r.pk in needing]
    )
    kept = []
    for request in requests:
        reason = None
        if request.pk in needing:
            kinds, purpose = needing[request.pk]
            reason = _refusal(rows.get(request.to_number, []), kinds, purpose, at)
        if reason is None:
            kept.append(request)
        else:
            CallRequest.objects.filter(pk=request.pk).status_move(
                CallRequest.Status.CANCELED, last_error=reason
            )
    return kept


def consents_revoke(*, business_id: int, number: str, via: str, note: str = "") -> int:
    """Revokes the business's consents for `number` that are not revoked yet; how many."""
    return ConsentRecord.objects.filter(
        Q(revoked_at__isnull=True), business_id=business_id, phone_number=number
    ).update(revoked_at=timezone.now(), revoked_via=via, revoked_note=note[:500])
