"""Hanging up a call: asked for by an operator, a canceled campaign, or a callback proving that a
call the service had given up on is live. Retried until Twilio confirms the call ended."""

import logging

from django.db import transaction

from calls import twilio_client
from calls.models import CallLog
from calls.services.reconcile import call_reconcile, call_twilio_state_apply
from calls.services.status import call_cancel_unsent
from calls.twilio_client import TwilioError
from twilio_accounts.credentials import call_credentials

logger = logging.getLogger(__name__)

EndedBy = CallLog.EndedBy

# Twilio's answers to a hang-up of a call that has already ended: not in progress, no such call.
ALREADY_ENDED = {"21220", "20404"}


def call_hang_up(*, call_id: int) -> None:
    """Ends a call: asks Twilio to hang it up, or cancels one whose create was never sent.

    A call whose create is in flight has no SID to hang up yet: call_sid_store queues this again
    once it has one. A hang-up Twilio does not confirm is asked again by the cleanup.
    """
    call = CallLog.objects.filter(pk=call_id).first()
    if call is None or (call.is_terminal and call.ended_by in (EndedBy.TWILIO, EndedBy.OPERATOR)):
        return  # Twilio itself said the call ended, or it was never sent
    if not call.call_sid:
        _cancel_unsent(call)
        return
    try:
        seen = twilio_client.call_hang_up(account=call_credentials(call), sid=call.call_sid)
    except TwilioError as error:
        if error.code in ALREADY_ENDED:
            call_reconcile(call_id=call.pk)  # settle it as Twilio knows it
        else:
            logger.warning("Hang-up of %s failed; the cleanup will ask again: %s", call.pk, error)
        return
    with transaction.atomic():
        call_twilio_state_apply(call=call, found=seen)


def _cancel_unsent(call: CallLog) -> None:
    with transaction.atomic():
        call_cancel_unsent(call=call)
