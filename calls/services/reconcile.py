"""Asking Twilio what became of a call it never confirmed, or that went silent."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from calls import twilio_client
from calls.models import CallEvent, CallLog
from calls.services.prices import call_price_record
from calls.services.status import Retry, StatusReport, call_fail, call_sid_store, call_status_apply
from calls.twilio_client import TwilioError
from twilio_accounts.credentials import call_credentials

logger = logging.getLogger(__name__)

EndedBy = CallLog.EndedBy


def call_reconcile(*, call_id: int) -> None:
    """Asks Twilio about a call it never confirmed or that went silent, and settles it."""
    call = CallLog.objects.filter(pk=call_id).first()
    if call is None or call.is_terminal:
        return
    if not call.call_sid and call.dial_started_at is None:
        return  # never sent: nothing to ask Twilio (the cleanup fails it as never sent)
    age = timezone.now() - (call.dial_started_at or call.created_at)
    stuck = age > timedelta(seconds=settings.STUCK_CALL_SECONDS)
    try:
        found = _twilio_call_for(call)
    except TwilioError as error:
        if stuck:
            with transaction.atomic():
                call_fail(
                    call=call,
                    code="unreachable",
                    message=f"Twilio could not tell what became of this call: {error.message}",
                    ended_by=EndedBy.RECONCILE,
                )
        return
    if found is None and not call.call_sid and not _missed_twice(call):
        return
    with transaction.atomic():
        if found is None:
            call_fail(
                call=call,
                code="not-found",
                message="Twilio has no record of this call; it was never placed.",
                ended_by=EndedBy.RECONCILE,
                retry=Retry.UNCOUNTED,
            )
            return
        call_twilio_state_apply(call=call, found=found)


def _missed_twice(call: CallLog) -> bool:
    """Twilio's list is eventually consistent: a call it placed may be missing from it for a
    while. A call is taken as never placed only when a second look, TWILIO_LIST_LAG_SECONDS after
    the first miss, misses it too; until then the cleanup looks again once that time has come."""
    now = timezone.now()
    lag = timedelta(seconds=settings.TWILIO_LIST_LAG_SECONDS)
    if call.unlisted_since is not None and now - call.unlisted_since >= lag:
        return True
    CallLog.objects.filter(pk=call.pk).update(
        unlisted_since=Coalesce(F("unlisted_since"), now), nudge_due_at=now + lag
    )
    logger.info("Call %s is not in Twilio's list yet; looking again in %s", call.pk, lag)
    return False


def call_twilio_state_apply(*, call: CallLog, found: twilio_client.TwilioCall) -> bool:
    """Settles a call by what Twilio's REST API says of it (a fetch, a list, a hang-up's answer)
    through the same status code as its callbacks, and keeps it as a CallEvent. In a transaction.
    """
    if found.status not in CallLog.RANK:
        logger.warning("Twilio reports status %r for call %s: left as is", found.status, call.pk)
        return False
    if not call.call_sid:
        call_sid_store(call=call, sid=found.sid)
    report = StatusReport(
        status=found.status, duration_seconds=found.duration, answered_by=found.answered_by
    )
    applied = call_status_apply(call=call, report=report, ended_by=EndedBy.RECONCILE)
    CallEvent.objects.create(
        call=call,
        source=CallEvent.Source.RECONCILE,
        status=found.status,
        applied=applied,
        params={"sid": found.sid, "status": found.status, "duration": found.duration},
    )
    # Heard from Twilio: the silence clock and the reconcile nudges start again (a hang-up not
    # yet confirmed keeps its own due time).
    live = CallLog.objects.filter(pk=call.pk, status__in=CallLog.LIVE_STATUSES)
    live.update(updated_at=timezone.now(), nudge_count=0)
    live.filter(hang_up_requested_at__isnull=True).update(nudge_due_at=None)
    call_price_record(call=call, found=found)
    return applied


def _twilio_call_for(call: CallLog) -> twilio_client.TwilioCall | None:
    if call.call_sid:
        try:
            return twilio_client.call_fetch(account=call_credentials(call), sid=call.call_sid)
        except TwilioError as error:
            if error.code == "20404":
                return None
            raise
    since = call.dial_started_at - timedelta(seconds=5)
    known = set(
        CallLog.objects.filter(call_sid__isnull=False, to_number=call.to_number).values_list(
            "call_sid", flat=True
        )
    )
    candidates = [
        c
        for c in twilio_client.call_list(
            account=call_credentials(call), to=call.to_number, from_=call.from_number
        )
        if c.sid not in known and c.date_created and c.date_created >= since
    ]
    return min(candidates, key=lambda c: c.date_created) if candidates else None
