import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from calls.models import CallLog
from calls.phone import to_e164
from leads.models import Lead

logger = logging.getLogger(__name__)


def lead_from_call(*, call_sid: str) -> Lead | None:
    """Gets or creates the Lead for the other party of a call and links the call to it.

    Idempotent: a second run, or a run after a crash half-way, creates nothing new.
    """
    call = CallLog.objects.filter(call_sid=call_sid).first()
    if call is None:
        logger.warning("No call with SID %s: no lead made.", call_sid)
        return None
    try:
        number = to_e164(call.other_party)
    except ValidationError:
        logger.info(
            "Call %s has no callable number (%r): no lead made.", call_sid, call.other_party
        )
        # It never will have one: the cleanup stops nudging a call that says why.
        CallLog.objects.filter(pk=call.pk, lead__isnull=True).update(
            no_lead_reason=f"No lead: the other party's number ({call.other_party!r}) cannot be "
            "called back (withheld or not a phone number)."
        )
        return None
    source = Lead.Source.OUTBOUND_CALL if call.direction == "outbound" else Lead.Source.INBOUND_CALL
    # get_or_create retries the read when a racing task inserted the row first (the unique
    # constraint on business and number makes that safe).
    lead, _ = Lead.objects.get_or_create(
        business_id=call.business_id, phone_number=number, defaults={"source": source}
    )
    with transaction.atomic():
        CallLog.objects.filter(pk=call.pk, lead__isnull=True).update(lead=lead)
        Lead.objects.filter(pk=lead.pk).filter(
            Q(last_call_at__isnull=True) | Q(last_call_at__lt=call.created_at)
        ).update(last_call_at=call.created_at, last_call_direction=call.direction)
    return lead


def lead_named(*, business, phone_number: str, name: str = "", region: str = "") -> Lead:
    """The business's lead for `phone_number` (an imported one if it had none), given `name`
    and the address `region` (ISO 3166-2, checked by the caller) where it has none yet: a list
    or an API call may name a person or say where they live, never change it (an operator
    does, in the admin)."""
    lead, created = Lead.objects.get_or_create(
        business=business,
        phone_number=phone_number,
        defaults={"name": name, "region": region, "source": Lead.Source.IMPORT},
    )
    if not created:
        for field, value in (("name", name), ("region", region)):
            if value and not getattr(lead, field):
                Lead.objects.filter(pk=lead.pk, **{field: ""}).update(**{field: value})
                setattr(lead, field, value)
    return lead
