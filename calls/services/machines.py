"""Answering-machine detection: asking Twilio for it when a call is created, recording its verdict,
and leaving the campaign's voicemail message on a machine (or hanging up when there is none).

Twilio posts the verdict (AsyncAmd) while the script already plays, once a machine's greeting
has ended (DetectMessageEnd): the message, sent as a call update, starts after the beep. The
update is a Twilio request, so it runs in a task, never on the webhook's path.
"""

import logging

from django.db import transaction
from django.utils import timezone

from calls import twilio_client
from calls.models import CallLog
from calls.scripts import voicemail_twiml
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import leave_voicemail
from calls.twilio_client import TwilioError

logger = logging.getLogger(__name__)


def machine_detection_params(*, call: CallLog, base_url: str) -> dict:
    """What call_create adds for a call whose campaign asks for machine detection, else {}."""
    campaign = call.request.campaign if call.request_id else None
    if campaign is None or not campaign.machine_detection:
        return {}
    return {"machine_detection_callback": f"{base_url}/twilio/calls/{call.public_id}/amd"}


def call_machine_verdict_record(*, call: CallLog, sid: str, answered_by: str) -> bool:
    """Records Twilio's verdict on who answered `call`; on a machine, queues the voicemail (or
    the hang-up) while the call is live. True when it did."""
    if call.call_sid and call.call_sid != sid:
        logger.warning("AMD verdict for %s carries SID %s, not %s", call.pk, sid, call.call_sid)
        return False
    with transaction.atomic():
        CallLog.objects.filter(pk=call.pk).update(
            answered_by=answered_by, updated_at=timezone.now()
        )
        if answered_by not in CallLog.MACHINE_ANSWERS:
            return False  # a person (or unknown): the script already plays to them
        # Conditional on the row as it is now: a call that ended or is being hung up gets
        # nothing, and an inbound caller (never asked about) is never redirected.
        live = CallLog.objects.filter(
            pk=call.pk,
            direction=CallLog.Direction.OUTBOUND,
            status__in=CallLog.LIVE_STATUSES,
            hang_up_requested_at__isnull=True,
        )
        if not live.exists():
            return False
        task_queue_after_commit(leave_voicemail, call.pk)
    return True


def call_voicemail_leave(*, call_id: int) -> bool:
    """Redirects a live call that reached a machine to the campaign's voicemail message and a
    hang-up (only the hang-up when there is no message). True when Twilio took the update.

    Not retried: a machine that is not left the message hangs up by itself, and the call's
    callbacks settle it as they would any other.
    """
    call = CallLog.objects.select_related("request__campaign").filter(pk=call_id).first()
    if (
        call is None
        or call.is_terminal
        or not call.call_sid
        or call.voicemail_left_at
        or call.hang_up_requested_at
    ):
        return False
    campaign = call.request.campaign if call.request else None
    try:
        twilio_client.call_update(sid=call.call_sid, twiml=voicemail_twiml(campaign))
    except TwilioError as error:
        logger.warning("Voicemail for call %s not left: %s", call.pk, error)
        return False
    if campaign is not None and campaign.voicemail_text:
        CallLog.objects.filter(pk=call.pk, voicemail_left_at__isnull=True).update(
            voicemail_left_at=timezone.now()
        )
    return True
