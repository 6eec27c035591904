"""What Twilio's webhooks report: status callbacks and inbound calls."""

import dataclasses
import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from calls.faults import fault_point
from calls.models import Business, CallEvent, CallLog
from calls.phone import to_e164
from calls.services.status import (
    StatusReport,
    call_sid_store,
    call_status_apply,
    calls_hang_up_request,
)
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import create_lead_from_call

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy


def call_callback_record(
    *, call: CallLog, sid: str, report: StatusReport, sip_response_code: int | None, params: dict
) -> bool:
    """Applies one status callback about `call` and keeps it as a CallEvent."""
    if report.sip_response_code is None:
        report = dataclasses.replace(report, sip_response_code=sip_response_code)
    with transaction.atomic():
        if not call.call_sid:
            call_sid_store(call=call, sid=sid)
        applied = call.call_sid == sid and call_status_apply(call=call, report=report)
        if not applied and call.call_sid != sid:
            logger.warning("Callback for %s carries SID %s, not %s", call.pk, sid, call.call_sid)
        elif not applied and _is_reaped_but_live(call, report.status):
            # The service gave up on this call, yet Twilio says it is live: hang it up so the
            # cap holds in reality, not just in the database.
            logger.warning("Call %s was settled as %s but is %s", sid, call.status, report.status)
            calls_hang_up_request(call_ids=[call.pk])
        CallEvent.objects.create(
            call=call,
            status=report.status,
            sequence_number=report.sequence_number,
            sip_response_code=sip_response_code,
            applied=applied,
            params=params,
        )
        fault_point(f"callback-{report.status}")
    return applied


def _is_reaped_but_live(call: CallLog, reported: str) -> bool:
    return (
        call.status == Status.FAILED
        and call.ended_by in (EndedBy.CLEANUP, EndedBy.RECONCILE, EndedBy.DISPATCH)
        and reported in CallLog.LIVE_STATUSES
    )


def inbound_business(*, to_number: str) -> Business | None:
    """The business an inbound call to `to_number` is for; None for a number not ours."""
    try:
        return Business.objects.get(phone_number=to_e164(to_number))
    except (Business.DoesNotExist, ValidationError):
        return None


def inbound_call_receive(
    *, business: Business | None, call_sid: str, from_number: str, to_number: str, status: str
):
    """Records an inbound call to `business` once, however often Twilio retries; None for an
    unknown number (no business)."""
    if business is None:
        return None
    with transaction.atomic():
        call, created = CallLog.objects.get_or_create(
            call_sid=call_sid,
            defaults={
                "business": business,
                "twilio_account_id": business.twilio_account_id,
                "direction": CallLog.Direction.INBOUND,
                "from_number": from_number,
                "to_number": to_number,
                "status": status if status in CallLog.LIVE_STATUSES else Status.RINGING,
            },
        )
        if created:
            task_queue_after_commit(create_lead_from_call, call_sid)
    return call
