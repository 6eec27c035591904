"""/api/v1/calls: queue a call, read one, list them, cancel one. Every query is scoped to the
key's business: another business's id answers 404, as an id that does not exist."""

from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.errors import ApiError, responses
from api.idempotency import idempotent
from api.schemas import (
    CallIn,
    CallOut,
    CallPage,
    Cursor,
    Id,
    IdempotencyKey,
    Moment,
    cursor_decode,
    cursor_encode,
)
from api.services import api_action_record, api_call_request_create
from calls.models import CallLog, CallRequest, Campaign
from calls.services.enqueue import EnqueueRefused
from calls.services.erasure import ERASED
from calls.services.operator_actions import request_cancel
from compliance.consent import request_consent_summary
from compliance.rules import region_problem, rule_by_id

router = Router(tags=["calls"])

ATTEMPTS = Prefetch("calls", queryset=CallLog.objects.order_by("created_at", "id"))


def held_by(request: CallRequest) -> dict | None:
    if request.status != CallRequest.Status.QUEUED or not request.held_reason:
        return None
    rule = rule_by_id(request.held_rule) if request.held_rule else None
    if rule is None:
        # The business's or campaign's window (or a rule since taken out of the files).
        return {"rule": request.held_rule, "jurisdiction": "", "source": "", "url": ""}
    source = rule.sources[0]
    return {
        "rule": rule.id,
        "jurisdiction": rule.jurisdiction,
        "source": source.citation,
        "url": source.url,
    }


def call_out(request: CallRequest, *, consent: bool = False) -> dict:
    return CallOut(
        consent=request_consent_summary(request) if consent and request.to_number != ERASED else "",
        id=request.pk,
        to=request.to_number,
        status=request.status,
        campaign=request.campaign_id,
        lead=request.lead_id,
        attempts=request.attempts,
        max_attempts=request.max_attempts,
        reason=request.last_error,
        next_attempt_at=request.next_attempt_at,
        waiting_for=request.held_reason if request.status == CallRequest.Status.QUEUED else "",
        held_by=held_by(request),
        metadata=request.metadata,
        created_at=request.created_at,
        updated_at=request.updated_at,
        calls=[
            {
                "sid": call.call_sid,
                "status": call.status,
                "from_number": call.from_number,
                "duration": call.duration_seconds,
                "answered_by": call.answered_by,
                "price": None if call.price is None else str(call.price),
                "price_unit": call.price_unit,
                "created_at": call.created_at,
                "started_at": call.dial_started_at,
                "answered_at": call.answered_at,
                "ended_at": call.ended_at,
            }
            for call in request.calls.all()
        ],
    ).model_dump(mode="json")


def requests_of(http_request):
    return CallRequest.objects.filter(business=http_request.auth.business).prefetch_related(
        ATTEMPTS
    )


@router.post("/calls", response=responses({201: CallOut}, 404, 409, 422))
def call_create(request, payload: CallIn, idempotency_key: IdempotencyKey = None):
    """Queues a call. A refusal answers 422 with its `code` (invalid-number, invalid-region,
    business-paused, business-inactive, campaign-closed, do-not-call, no-consent, …); the number
    already queued or live answers 409. With an `Idempotency-Key` header, a retry gets the first
    answer and queues nothing more."""
    business = request.auth.business

    def act():
        region = payload.lead.region if payload.lead else ""
        if region and region_problem(region):
            problem = region_problem(region)
            raise ApiError(
                422, "invalid-region", problem, [{"field": "lead.region", "message": problem}]
            )
        campaign = None
        if payload.campaign is not None:
            campaign = get_object_or_404(Campaign, business=business, pk=payload.campaign)
        try:
            created = api_call_request_create(
                business=business,
                to_number=payload.to,
                campaign=campaign,
                lead_name=payload.lead.name if payload.lead else "",
                lead_region=region,
                metadata=payload.metadata,
            )
        except ValidationError as error:
            if error.code != "invalid":
                raise ApiError.invalid("to", error) from error
            # The schema took the number's form; no numbering plan has it, which only a phone
            # number library can tell.
            message = " ".join(error.messages)
            raise ApiError(
                422, "invalid-number", message, [{"field": "to", "message": message}]
            ) from error
        except EnqueueRefused as error:
            status = 409 if error.code == EnqueueRefused.ALREADY_OPEN else 422
            raise ApiError(status, error.code, str(error)) from error
        return 201, call_out(requests_of(request).get(pk=created.pk))

    return Status(*idempotent(request, payload.model_dump(mode="json"), act))


@router.get("/calls/{id}", response=responses({200: CallOut}, 404))
def call_read(request, id: Id):
    return call_out(get_object_or_404(requests_of(request), pk=id), consent=True)


class CallFilters(Schema):
    status: Literal[tuple(CallRequest.Status.values)] | None = None  # type: ignore[valid-type]
    campaign: Id | None = None
    since: Moment | None = Field(None, description="Created at or after (ISO 8601).")
    limit: int = Field(50, ge=1, le=settings.API_PAGE_MAX)
    cursor: Cursor | None = Field(None, description="From the previous page's `next_cursor`.")


@router.get("/calls", response=responses({200: CallPage}, 422))
def call_list(request, filters: Query[CallFilters]):
    """The business's call requests, newest first, a page at a time."""
    rows = requests_of(request).order_by("-created_at", "-id")
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.campaign:
        rows = rows.filter(campaign_id=filters.campaign)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.cursor:
        position = cursor_decode(filters.cursor)
        if position is None:
            raise ApiError(422, "invalid-cursor", "Not a cursor this API gave: start again.")
        # Keyset, not an offset: calls queued while a client pages never shift the pages.
        created_at, pk = position
        rows = rows.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    page = list(rows[: filters.limit + 1])
    items = page[: filters.limit]
    more = len(page) > filters.limit
    return {
        "items": [call_out(r) for r in items],
        "limit": filters.limit,
        "next_cursor": cursor_encode(items[-1].created_at, items[-1].pk) if more else None,
    }


@router.post("/calls/{id}/cancel", response=responses({200: CallOut}, 404, 409))
def call_cancel(request, id: Id):
    """Cancels a queued call at once; a live one is hung up and not retried (it settles as the
    call ends). A settled call answers 409."""
    call_request = get_object_or_404(requests_of(request), pk=id)
    result = request_cancel(request_id=call_request.pk)
    api_action_record(
        api_key=request.auth,
        action="cancel",
        description="Cancel the call (API)",
        row=call_request,
        result=result,
        noun="request",
        verb="canceled",
    )
    if not result.changed:
        (reason,) = result.unchanged
        raise ApiError(409, "already-settled", f"The call {reason}.")
    return call_out(requests_of(request).get(pk=id))
