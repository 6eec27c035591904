"""Queuing calls: a number is validated and stored as a request, and a dispatch is nudged."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from calls.models import Business, CallRequest, Campaign
from calls.phone import to_e164
from calls.services.calling_rules import callee_decision, hold_fields
from calls.services.do_not_call import do_not_call_listed, do_not_call_refusal
from calls.services.locks import business_lock, campaign_lock
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from compliance.consent import consent_refusal


class EnqueueRefused(Exception):
    """A number that may not be queued now; `code` says why, for interfaces that map it (an API
    answers each code its own way), and the message says it to a person."""

    INACTIVE = "business-inactive"
    PAUSED = "business-paused"
    CAMPAIGN_CLOSED = "campaign-closed"
    ALREADY_OPEN = "already-open"
    NO_CALLING_WINDOW = "no-calling-window"
    DO_NOT_CALL = "do-not-call"
    NO_CONSENT = "no-consent"

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


def enqueue_outbound_call(
    *, business: Business, to_number: str, lead=None, campaign: Campaign | None = None
) -> CallRequest:
    """Queues a call to `to_number`; raises EnqueueRefused (with the reason) or ValidationError."""
    request = _request_create(business=business, to_number=to_number, lead=lead, campaign=campaign)
    task_queue_after_commit(dispatch, business.pk)
    return request


def _request_create(*, business, to_number, lead, campaign) -> CallRequest:
    number = to_e164(to_number)
    with transaction.atomic():
        business = business_lock(business_id=business.pk)
        if not business.is_active:
            raise EnqueueRefused(f"{business.name} is inactive.", code=EnqueueRefused.INACTIVE)
        if business.paused_reason:
            raise EnqueueRefused(
                f"{business.name} is paused: {business.paused_reason}", code=EnqueueRefused.PAUSED
            )
        if campaign:
            # Read again under its lock: the caller's copy may predate a dispatch that finished
            # the campaign, and a request added to a finished campaign would wait forever.
            name, campaign = campaign.name, campaign_lock(campaign_id=campaign.pk)
            if campaign is None:
                raise EnqueueRefused(
                    f"Campaign {name!r} no longer exists.", code=EnqueueRefused.CAMPAIGN_CLOSED
                )
        if campaign and campaign.status in Campaign.CLOSED_STATUSES:
            raise EnqueueRefused(
                f"Campaign {campaign.name!r} is {campaign.status}.",
                code=EnqueueRefused.CAMPAIGN_CLOSED,
            )
        listed = do_not_call_listed(business_id=business.pk, numbers=[number]).get(number)
        if listed:
            raise EnqueueRefused(
                do_not_call_refusal(number, listed), code=EnqueueRefused.DO_NOT_CALL
            )
        if refusal := consent_refusal(business=business, campaign=campaign, number=number):
            raise EnqueueRefused(refusal, code=EnqueueRefused.NO_CONSENT)
        open_requests = CallRequest.objects.filter(
            business=business,
            campaign=campaign,
            to_number=number,
            status__in=CallRequest.OPEN_STATUSES,
        )
        if open_requests.exists():
            where = f"in campaign {campaign.name!r}" if campaign else "for this business"
            raise EnqueueRefused(
                f"{number} is already queued or live {where}.", code=EnqueueRefused.ALREADY_OPEN
            )
        decision = callee_decision(
            business=business, campaign=campaign, number=number, region=lead.region if lead else ""
        )
        if decision.opening is None:
            raise EnqueueRefused(
                f"{number} cannot be called: {decision.reason}.",
                code=EnqueueRefused.NO_CALLING_WINDOW,
            )
        schedule = {"next_attempt_at": timezone.now()}
        if not decision.allowed:
            schedule = hold_fields(decision) | {"window_holds": 1}
        request = CallRequest.objects.create(
            business=business,
            campaign=campaign,
            lead=lead,
            to_number=number,
            max_attempts=business.max_attempts,
            **schedule,
        )
    return request


@dataclass
class EnqueueResult:
    number: str
    request: CallRequest | None = None
    refused: str = ""


def enqueue_outbound_call_try(
    *,
    business: Business,
    to_number: str,
    lead=None,
    campaign: Campaign | None = None,
    nudge: bool = True,
) -> EnqueueResult:
    """Like enqueue_outbound_call, but a refusal is returned with its reason, not raised."""
    try:
        request = _request_create(
            business=business, to_number=to_number, lead=lead, campaign=campaign
        )
    except ValidationError as error:
        return EnqueueResult(to_number, refused=" ".join(error.messages))
    except EnqueueRefused as error:
        return EnqueueResult(to_number, refused=str(error))
    if nudge:
        task_queue_after_commit(dispatch, business.pk)
    return EnqueueResult(to_number, request=request)


def enqueue_outbound_calls(
    *, business: Business, numbers: list[str], campaign: Campaign | None = None
) -> list[EnqueueResult]:
    """The bulk form: each number queued or refused with its reason; one bad row stops nothing.
    One dispatch is queued for the lot, not one per number."""
    results = [
        enqueue_outbound_call_try(
            business=business, to_number=number, campaign=campaign, nudge=False
        )
        for number in numbers
    ]
    if any(result.request for result in results):
        task_queue_after_commit(dispatch, business.pk)
    return results
