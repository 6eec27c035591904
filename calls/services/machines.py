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
from calls.models import CallEvent, CallLog
from calls.scripts import voicemail_twiml
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import leave_voicemail
from calls.twilio_client import TwilioError
from twilio_accounts.credentials import call_credentials

logger = logging.getLogger(__name__)


def machine_detection_params(*, call: CallLog, base_url: str) -> dict:
    """What call_create adds for a call whose campaign asks for machine detection, else {}."""
    campaign = call.request.campaign if call.request_id else None
    if campaign is None or not campaign.machine_detection:
        return {}
    return {"machine_detection_callback": f"{base_url}/twilio/calls/{call.public_id}/amd"}


def call_machine_verdict_record(
    *, call: CallLog, sid: str, answered_by: str, params: dict | None = None
) -> bool:
    """Records Twilio's verdict on who answered `call` (and keeps it in the call's trail); on a
    machine, queues the voicemail (or the hang-up) while the call is live. True when it did.

    A verdict that arrives after the call ended is kept in the trail only: the request was
    settled when the call ended, on what Twilio had said by then (a machine is retried later, a
    person is done), and a verdict applied afterwards would leave the call saying "machine"
    beside a request settled for a person. Its `answered_by` therefore says what the request was
    settled on, and every count agrees with it.
    """
    if call.call_sid and call.call_sid != sid:
        logger.warning("AMD verdict for %s carries SID %s, not %s", call.pk, sid, call.call_sid)
        return False
    with transaction.atomic():
        # Conditional on the row as it is now: a call that ended meanwhile is left as it was.
        live = CallLog.objects.filter(pk=call.pk, status__in=CallLog.LIVE_STATUSES)
        applied = live.update(answered_by=answered_by, updated_at=timezone.now())
        CallEvent.objects.create(
            call=call,
            source=CallEvent.Source.MACHINE_DETECTION,
            status=answered_by,
            applied=bool(applied),
            params=params if params is not None else {"CallSid": sid, "AnsweredBy": answered_by},
        )
        if not applied or answered_by not in CallLog.MACHINE_ANSWERS:
            return False  # ended already, or a person (or unknown): the script plays to them
        # A call being hung up gets nothing, and an inbound caller (never asked about) is never
        # redirected; a call already sent its machine update (a verdict twice) gets no second.
        waiting = live.filter(
            direction=CallLog.Direction.OUTBOUND,
            hang_up_requested_at__isnull=True,
            machine_update_at__isnull=True,
        )
        if not waiting.exists():
            return False
        task_queue_after_commit(leave_voicemail, call.pk)
    return True


def call_voicemail_leave(*, call_id: int) -> bool:
    """Redirects a live call that reached a machine to the campaign's voicemail message and a
    hang-up (only the hang-up when there is no message). True when Twilio took the update.

    Claimed before it is sent (`machine_update_at`, a conditional UPDATE), so a verdict twice or
    a task run twice (the ORM broker delivers at least once) leaves the message once. Not
    retried: a machine that is not left the message hangs up by itself, and the call's
    callbacks settle it as they would any other.
    """
    now = timezone.now()
    claimed = CallLog.objects.filter(
        pk=call_id,
        status__in=CallLog.LIVE_STATUSES,
        call_sid__isnull=False,
        hang_up_requested_at__isnull=True,
        machine_update_at__isnull=True,
    ).update(machine_update_at=now)
    if not claimed:
        return False
    call = CallLog.objects.select_related("request__campaign").get(pk=call_id)
    campaign = call.request.campaign if call.request else None
    try:
        twilio_client.call_update(
            account=call_credentials(call), sid=call.call_sid, twiml=voicemail_twiml(campaign)
        )
    except TwilioError as error:
        logger.warning("Voicemail for call %s not left: %s", call.pk, error)
        return False
    if campaign is not None and campaign.voicemail_text:
        CallLog.objects.filter(pk=call.pk, voicemail_left_at__isnull=True).update(
            voicemail_left_at=timezone.now()
        )
    return True
