"""Giving a campaign its numbers (pasted or uploaded in the admin, or sent to the API): each row
is queued or refused with its reason, one dispatch for the lot; a row with a name or an address
region makes or completes the person's lead, linked to the request before the calling rules
judge it (the region's rules apply too)."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from calls.models import CallRequest, Campaign
from calls.phone import to_e164
from calls.services.enqueue import enqueue_outbound_call_try
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from compliance.rules import region_problem


@dataclass
class NumberRow:
    line: int
    number: str
    name: str = ""
    region: str = ""  # the callee's address region, ISO 3166-2 (US-FL)


@dataclass
class RowOutcome:
    row: NumberRow
    request: CallRequest | None = None
    refused: str = ""


def campaign_numbers_check(*, rows: list[NumberRow]) -> list[RowOutcome]:
    """What each row would be refused for before anything is stored: an invalid number or
    region, a number listed twice. Rows that pass come back with no reason."""
    outcomes, first_line = [], {}
    for row in rows:
        try:
            number = to_e164(row.number)
        except ValidationError as error:
            outcomes.append(RowOutcome(row, refused=" ".join(error.messages)))
            continue
        row.region = row.region.strip().upper()
        if row.region and region_problem(row.region):
            outcomes.append(RowOutcome(row, refused=f"Region {region_problem(row.region)}"))
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
    business = campaign.business
    with transaction.atomic():
        for outcome in outcomes:
            if outcome.refused:
                continue
            row = outcome.row
            # A savepoint per row: a refused row leaves no lead behind.
            with transaction.atomic():
                lead = None
                if row.name or row.region:
                    lead = lead_named(
                        business=business,
                        phone_number=to_e164(row.number),
                        name=row.name,
                        region=row.region,
                    )
                result = enqueue_outbound_call_try(
                    business=business,
                    to_number=row.number,
                    lead=lead,
                    campaign=campaign,
                    nudge=False,
                )
                outcome.request, outcome.refused = result.request, result.refused
                if result.refused:
                    transaction.set_rollback(True)
        if any(outcome.request for outcome in outcomes):
            task_queue_after_commit(dispatch, business.pk)
    return outcomes
