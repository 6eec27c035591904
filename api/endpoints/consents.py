"""/api/v1/consents and /api/v1/opt-outs: record the consents a business holds (one or a batch),
read a number's, and record an opt-out (a revocation: the number's consents revoked, the number
listed on the business's do-not-call list, its queued calls canceled)."""

from django.core.exceptions import ValidationError
from ninja import Query, Router, Schema, Status

from api.errors import ApiError, responses
from api.schemas import (
    ConsentBatch,
    ConsentIn,
    ConsentList,
    ConsentOut,
    ConsentsRecorded,
    OptOutBatch,
    OptOutIn,
    OptOutOut,
    PhoneNumber,
)
from calls.phone import to_e164
from compliance.consent_records import ConsentGiven, consents_for, consents_record
from compliance.models import ConsentRecord
from compliance.opt_outs import Via, number_opt_out

router = Router(tags=["consents"])

# A number's records answered at most (newest first); a number has a handful.
READ_MAX = 100


def consent_out(row: ConsentRecord) -> dict:
    return ConsentOut(
        id=row.pk,
        to=row.phone_number,
        kind=row.kind,
        purposes=row.purposes,
        source=row.source,
        captured_at=row.captured_at,
        evidence=row.evidence_text,
        evidence_url=row.evidence_url,
        evidence_sha256=row.evidence_sha256,
        relationship=row.relationship,
        relationship_at=row.relationship_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_via=row.revoked_via,
        created_at=row.created_at,
    ).model_dump(mode="json")


def _given(one: ConsentIn) -> ConsentGiven:
    return ConsentGiven(
        number=one.to,
        kind=one.kind,
        purposes=list(one.purposes),
        source=one.source,
        captured_at=one.captured_at,
        evidence_text=one.evidence,
        evidence_url=one.evidence_url,
        evidence_sha256=one.evidence_sha256,
        relationship=one.relationship,
        relationship_at=one.relationship_at,
        expires_at=one.expires_at,
    )


def _refused(error: ValidationError, single: bool) -> ApiError:
    errors = [
        {"field": name.removeprefix("0.") if single else name, "message": " ".join(messages)}
        for name, messages in error.message_dict.items()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ApiError(422, "invalid-consent", detail, errors)


@router.post("/consents", response=responses({201: ConsentOut | ConsentsRecorded}, 422))
def consents_create(request, payload: ConsentIn | ConsentBatch):
    """Records one consent (an object; answered with the record) or a batch (a list of at most
    10,000; answered with how many and their ids, in the order given): all of them, or none
    with 422 `invalid-consent` naming each bad one (`3.to`). A number of E.164 form in no
    numbering plan, a capture time ahead of now, no evidence, or a business relationship
    without its kind and date are refused so."""
    single = not isinstance(payload, list)
    given = [_given(one) for one in ([payload] if single else payload)]
    try:
        ids = consents_record(business=request.auth.business, given=given)
    except ValidationError as error:
        raise _refused(error, single) from error
    if single:
        return Status(201, consent_out(ConsentRecord.objects.get(pk=ids[0])))
    return Status(201, {"recorded": len(ids), "ids": ids})


class ConsentFilters(Schema):
    to: PhoneNumber


@router.get("/consents", response=responses({200: ConsentList}, 422))
def consents_read(request, filters: Query[ConsentFilters]):
    """The business's consent records for one number, newest first, revoked ones included."""
    try:
        number = to_e164(filters.to)
    except ValidationError as error:
        raise ApiError(422, "invalid-number", " ".join(error.messages)) from error
    rows = consents_for(business=request.auth.business, number=number)[:READ_MAX]
    return {"items": [consent_out(row) for row in rows]}


@router.post("/opt-outs", response=responses({200: OptOutOut | list[OptOutOut]}, 422))
def opt_outs_create(request, payload: OptOutIn | OptOutBatch):
    """Records that the person at `to` wants no more calls (an object, or a list of at most
    1,000): the number's consents for the business are revoked, it joins the business's
    do-not-call list and its queued calls are canceled; a call already claimed is not placed.
    Repeating one changes nothing more."""
    single = not isinstance(payload, list)
    items = [payload] if single else payload
    numbers = []
    for index, one in enumerate(items):
        try:
            numbers.append(to_e164(one.to))
        except ValidationError as error:
            field = "to" if single else f"{index}.to"
            message = " ".join(error.messages)
            raise ApiError(
                422, "invalid-number", message, [{"field": field, "message": message}]
            ) from error
    key = request.auth
    out = []
    for number, one in zip(numbers, items, strict=True):
        done = number_opt_out(
            business_id=key.business_id,
            number=number,
            via=Via.API,
            reason=one.reason or f"opted out (API key {key.name or key.prefix})",
        )
        out.append(
            OptOutOut(
                to=number,
                consents_revoked=done.consents_revoked,
                requests_canceled=done.requests_canceled,
            ).model_dump(mode="json")
        )
    return out[0] if single else out
