"""/api/v1/campaigns: create one with its numbers, add numbers, read it, pause, resume, stop or
cancel it, through the services the admin uses."""

from dataclasses import asdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from api.errors import ApiError, responses
from api.idempotency import idempotent
from api.schemas import (
    CampaignCreatedOut,
    CampaignIn,
    CampaignOut,
    Id,
    IdempotencyKey,
    NumbersIn,
    NumbersOut,
)
from api.services import CampaignRefused, api_action_record, api_campaign_create
from calls.counts import call_counts
from calls.models import CallLog, CallRequest, Campaign
from calls.services.campaign_numbers import NumberRow, campaign_numbers_add
from calls.services.operator_actions import campaign_set_status

router = Router(tags=["campaigns"])

# The moves an API client may ask for, as the admin's buttons offer them.
VERBS = {"pause": "paused", "resume": "resumed", "stop": "stopped", "cancel": "canceled"}
MOVES = {
    "pause": Campaign.Status.PAUSED,
    "resume": Campaign.Status.RUNNING,
    "stop": Campaign.Status.STOPPING,
    "cancel": Campaign.Status.CANCELED,
}


def campaign_out(campaign: Campaign) -> dict:
    counts = dict.fromkeys(CallRequest.Status.values, 0)
    for row in campaign.requests.values("status").annotate(n=Count("id")).order_by():
        counts[row["status"]] = row["n"]
    return CampaignOut(
        id=campaign.pk,
        name=campaign.name,
        status=campaign.status,
        purpose=campaign.purpose,
        concurrency=campaign.concurrency,
        say_text=campaign.say_text,
        voice=campaign.voice,
        language=campaign.language,
        recording_url=campaign.recording_url,
        created_at=campaign.created_at,
        ended_at=campaign.ended_at,
        requests=counts,
        calls=asdict(call_counts(CallLog.objects.filter(request__campaign=campaign))),
    ).model_dump(mode="json")


def numbers_out(outcomes) -> list[dict]:
    return [
        {
            "to": o.row.number,
            "status": "queued" if o.request else "refused",
            "id": o.request.pk if o.request else None,
            "reason": o.refused,
        }
        for o in outcomes
    ]


def rows_of(numbers) -> list[NumberRow]:
    if len(numbers) > settings.API_NUMBERS_MAX:
        raise ApiError.invalid(
            "numbers", f"{len(numbers)} numbers: at most {settings.API_NUMBERS_MAX} at once."
        )
    return [
        NumberRow(line=k, number=n.to, name=n.name, region=n.region)
        for k, n in enumerate(numbers, start=1)
    ]


def campaign_of(request, id: int) -> Campaign:
    return get_object_or_404(Campaign, business=request.auth.business, pk=id)


@router.post("/campaigns", response=responses({201: CampaignCreatedOut}, 409, 422))
def campaign_create(request, payload: CampaignIn, idempotency_key: IdempotencyKey = None):
    """Creates a running campaign with its numbers; one result per number (queued with its call
    request's id, or refused with the reason). When no number can be queued nothing is created
    (422, `no-number-queued`); a recording from a host the business does not allow is refused
    (422, `recording-host-not-allowed`). Honours `Idempotency-Key`."""
    fields = payload.model_dump(exclude={"numbers"})
    if not fields["say_text"]:
        fields.pop("say_text")  # the model's default greeting

    def act():
        try:
            campaign, outcomes = api_campaign_create(
                business=request.auth.business, fields=fields, rows=rows_of(payload.numbers)
            )
        except ValidationError as error:
            errors = [
                {"field": field, "message": " ".join(messages)}
                for field, messages in error.message_dict.items()
            ]
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            # The schema holds the script's form; what is left is the business's own rule: the
            # hosts its recordings may come from.
            if {e["field"] for e in errors} == {"recording_url"}:
                raise ApiError(422, "recording-host-not-allowed", detail, errors) from error
            raise ApiError(400, "invalid", detail, errors) from error
        except CampaignRefused as error:
            status = 409 if error.code == "name-taken" else 422
            errors = [
                {"field": f"numbers.{k}", "message": o.refused}
                for k, o in enumerate(error.outcomes)
            ]
            raise ApiError(status, error.code, str(error), errors) from error
        return 201, {**campaign_out(campaign), "numbers": numbers_out(outcomes)}

    return Status(*idempotent(request, payload.model_dump(mode="json"), act))


@router.get("/campaigns/{id}", response=responses({200: CampaignOut}, 404))
def campaign_read(request, id: Id):
    return campaign_out(campaign_of(request, id))


@router.post("/campaigns/{id}/numbers", response=responses({200: NumbersOut}, 404, 422))
def campaign_numbers(request, id: Id, payload: NumbersIn, idempotency_key: IdempotencyKey = None):
    """Adds numbers to a campaign: one result per number, queued or refused with the reason
    (not a number, listed twice, already queued in the campaign, the campaign closed, …).
    Honours `Idempotency-Key`."""
    campaign = campaign_of(request, id)

    def act():
        outcomes = campaign_numbers_add(campaign=campaign, rows=rows_of(payload.numbers))
        queued = sum(1 for o in outcomes if o.request)
        return 200, {
            "queued": queued,
            "refused": len(outcomes) - queued,
            "numbers": numbers_out(outcomes),
        }

    return Status(*idempotent(request, payload.model_dump(mode="json"), act))


def _move(request, id: int, action: str):
    campaign = campaign_of(request, id)
    result = campaign_set_status(campaign_id=campaign.pk, status=MOVES[action])
    api_action_record(
        api_key=request.auth,
        action=action,
        description=f"{action.capitalize()} the campaign (API)",
        row=campaign,
        result=result,
        noun="campaign",
        verb=VERBS[action],
    )
    if not result.changed:
        (reason,) = result.unchanged
        raise ApiError(409, "not-allowed", f"Cannot {action} the campaign: it {reason}.")
    campaign.refresh_from_db()
    return campaign_out(campaign)


MOVE_RESPONSES = responses({200: CampaignOut}, 404, 409)


@router.post("/campaigns/{id}/pause", response=MOVE_RESPONSES)
def campaign_pause(request, id: Id):
    """Stops new dials (live calls go on); resume picks up where it left off."""
    return _move(request, id, "pause")


@router.post("/campaigns/{id}/resume", response=MOVE_RESPONSES)
def campaign_resume(request, id: Id):
    return _move(request, id, "resume")


@router.post("/campaigns/{id}/stop", response=MOVE_RESPONSES)
def campaign_stop(request, id: Id):
    """Dials no new numbers; the campaign ends when its live calls have."""
    return _move(request, id, "stop")


@router.post("/campaigns/{id}/cancel", response=MOVE_RESPONSES)
def campaign_cancel(request, id: Id):
    """Cancels its queued calls; live calls finish."""
    return _move(request, id, "cancel")
