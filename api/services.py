"""What the API's writes do, over the call queue's own services (enqueue, campaign numbers,
operator actions): nothing here decides whether a number may be called."""

from django.db import IntegrityError, transaction

from calls.models import Business, CallRequest, Campaign
from calls.phone import to_e164
from calls.services.action_log import operator_action_record
from calls.services.campaign_numbers import NumberRow, RowOutcome, campaign_numbers_add
from calls.services.enqueue import enqueue_outbound_call
from calls.services.operator_actions import ActionResult
from leads.services import lead_named


class CampaignRefused(Exception):
    """A campaign that was not created; `code` for programs, the message for people."""

    def __init__(self, message: str, *, code: str, outcomes=None):
        super().__init__(message)
        self.code = code
        self.outcomes = outcomes or []


def api_call_request_create(
    *,
    business: Business,
    to_number: str,
    campaign: Campaign | None = None,
    lead_name: str = "",
    lead_region: str = "",
    metadata: dict | None = None,
) -> CallRequest:
    """Queues one call (enqueue_outbound_call's rules and refusals: ValidationError for the
    number, EnqueueRefused otherwise) with the caller's metadata; a name or an address region
    makes or completes the person's lead, before the calling rules judge the call. One
    transaction: a refused call leaves no lead behind."""
    number = to_e164(to_number)
    with transaction.atomic():
        lead = None
        if lead_name or lead_region:
            lead = lead_named(
                business=business, phone_number=number, name=lead_name, region=lead_region
            )
        request = enqueue_outbound_call(
            business=business, to_number=number, lead=lead, campaign=campaign
        )
        if metadata:
            CallRequest.objects.filter(pk=request.pk).update(metadata=metadata)
            request.metadata = metadata
    return request


def api_campaign_create(
    *, business: Business, fields: dict, rows: list[NumberRow]
) -> tuple[Campaign, list[RowOutcome]]:
    """Creates a campaign with its numbers as the admin's add page does: the campaign's script is
    checked by its model (script_errors), each number is queued or refused with its reason, and
    a campaign none of whose numbers could be queued is not kept (it would never end)."""
    campaign = Campaign(business=business, **fields)
    # The name's uniqueness is the database's to decide (a racing create): a 409, not a 400.
    campaign.full_clean(exclude=["business"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            campaign.save()
            outcomes = campaign_numbers_add(campaign=campaign, rows=rows)
            if not any(o.request for o in outcomes):
                raise CampaignRefused(
                    "No number could be queued; the campaign was not created.",
                    code="no-number-queued",
                    outcomes=outcomes,
                )
    except IntegrityError as error:
        raise CampaignRefused(
            f"A campaign named {campaign.name!r} exists already.", code="name-taken"
        ) from error
    return campaign, outcomes


def api_action_record(
    *, api_key, action: str, description: str, row, result: ActionResult, noun: str, verb: str
) -> None:
    """Records an operator action run over the API in the action log, as the admin records its
    own, naming the key that asked."""
    operator_action_record(
        user=None,
        username=f"API key {api_key.prefix}… ({api_key.name or 'unnamed'})"[:150],
        business_id=api_key.business_id,
        action=action,
        description=description,
        target=row._meta.label_lower,
        row_ids=[row.pk],
        summary=result.summary(noun, verb),
    )
