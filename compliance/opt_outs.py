"""Revocation by any channel (a keypress during a call, a keypress at the opt-out menu of a call to
the business's number, the API, the admin): the number's consents
for the business are revoked, it is listed on the business's do-not-call list, and every queued
request of the business for it is canceled, in one transaction, so no call to it starts after it
commits. A request already claimed is stopped at the create: placing judges the do-not-call list
again (call_send_refusal, and the dial stamp's UPDATE), so it is never dialed either."""

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from calls.models import CallLog, CallRequest, DoNotCall
from calls.phone import to_e164
from calls.services import do_not_call
from calls.services.locks import business_lock
from compliance.consent import consents_revoke
from compliance.models import ConsentRecord

logger = logging.getLogger(__name__)

Via = ConsentRecord.RevokedVia


@dataclass
class OptOut:
    number: str
    listed: DoNotCall
    consents_revoked: int
    requests_canceled: int


def number_opt_out(
    *,
    business_id: int,
    number: str,
    via: str,
    reason: str,
    created_by=None,
    source_call: CallLog | None = None,
) -> OptOut:
    """Records that the person at `number` (any form; ValidationError if it is no number) wants
    no more calls from the business. Idempotent: an opt-out repeated changes nothing more."""
    number = to_e164(number)
    with transaction.atomic():
        # The business first (the lock order): a claim or an enqueue of the business running
        # now finishes before, and one after sees the listing.
        business_lock(business_id=business_id)
        revoked = consents_revoke(business_id=business_id, number=number, via=via, note=reason)
        row, _ = do_not_call.do_not_call_add(
            business_id=business_id,
            number=number,
            reason=reason,
            created_by=created_by,
            source_call=source_call,
        )
        canceled = CallRequest.objects.filter(
            business_id=business_id, to_number=number, status=CallRequest.Status.QUEUED
        ).status_move(CallRequest.Status.CANCELED, last_error=do_not_call.do_not_call_reason(row))
    logger.info("Business %s: opt-out via %s (%s consents revoked)", business_id, via, revoked)
    return OptOut(number, row, revoked, canceled)


INBOUND_OPT_OUT_KEY = "9"


def inbound_keypress_opt_out(*, call: CallLog, digits: str, call_sid: str) -> OptOut | None:
    """The key a caller pressed at the business's opt-out menu (Business.inbound_opt_out_menu):
    the opt-out key revokes as every channel does, for the number the call came from. None when
    nothing was revoked: another key, a report that is not this inbound call's own, or a caller
    whose number is withheld or no number (nothing to list)."""
    if (
        call.direction != CallLog.Direction.INBOUND
        or call.call_sid != call_sid
        or digits != INBOUND_OPT_OUT_KEY
    ):
        return None
    try:
        return number_opt_out(
            business_id=call.business_id,
            number=call.from_number,
            via=Via.INBOUND_CALL,
            reason="Pressed 9 on a call to the business's number.",
            source_call=call,
        )
    except ValidationError:
        logger.info("Inbound call %s: opt-out from a withheld or invalid number", call.pk)
        return None
