"""Giving a campaign its numbers (pasted or uploaded in the admin): each row is queued through the
bulk enqueue (one dispatch for the lot) or refused with its reason; a row with a name makes or
names the person's lead, linked to the request."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from calls.models import CallRequest, Campaign
from calls.phone import to_e164
from calls.services.enqueue import enqueue_outbound_calls


@dataclass
class NumberRow:
    line: int
    number: str
    name: str = ""


@dataclass
class RowOutcome:
    row: NumberRow
    request: CallRequest | None = None
    refused: str = ""


def campaign_numbers_check(*, rows: list[NumberRow]) -> list[RowOutcome]:
    """What each row would be refused for before anything is stored: an invalid number, a number
    listed twice. Rows that pass come back with no reason."""
    outcomes, first_line = [], {}
    for row in rows:
        try:
            number = to_e164(row.number)
        except ValidationError as error:
            outcomes.append(RowOutcome(row, refused=" ".join(error.messages)))
            continue
        if number in first_line:
            outcomes.append(
                RowOutcome(
                    row, refused=f"{number} is listed twice (first on row {first_line[number]})."
                )
            )
            continue
        first_line[number] = row.line
        outcomes.append(RowOutcome(row))
    return outcomes


def campaign_numbers_add(*, campaign: Campaign, rows: list[NumberRow]) -> list[RowOutcome]:
    """Queues every row that passes the checks and the enqueue's own (business paused, campaign
    closed, number already open in the campaign); one transaction, one dispatch on commit."""
    from leads.services import lead_named

    outcomes = campaign_numbers_check(rows=rows)
    passing = [o for o in outcomes if not o.refused]
    with transaction.atomic():
        results = enqueue_outbound_calls(
            business=campaign.business, numbers=[o.row.number for o in passing], campaign=campaign
        )
        for outcome, result in zip(passing, results, strict=True):
            outcome.request, outcome.refused = result.request, result.refused
            if result.request and outcome.row.name:
                lead = lead_named(
                    business=campaign.business,
                    phone_number=result.request.to_number,
                    name=outcome.row.name,
                )
                CallRequest.objects.filter(pk=result.request.pk).update(lead=lead)
    return outcomes
