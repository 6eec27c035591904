"""Pausing and resuming dialing: one business (Twilio refused it), one Twilio account (Twilio
refused its credentials or standing), or all of it (the main account refused, or an operator)."""

import logging

from django.db import transaction
from django.utils import timezone

from calls.models import Business
from calls.services.locks import dialing_control_lock
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from twilio_accounts.models import TwilioAccount

logger = logging.getLogger(__name__)


def business_pause(*, business_id: int, reason: str) -> None:
    logger.error("Pausing business %s: %s", business_id, reason)
    Business.objects.filter(pk=business_id).update(paused_reason=reason, updated_at=timezone.now())


def business_resume(*, business_id: int) -> bool:
    """Clears a business's pause and nudges its dispatch; False when it was not paused."""
    with transaction.atomic():
        resumed = (
            Business.objects.filter(pk=business_id)
            .exclude(paused_reason="")
            .update(paused_reason="", updated_at=timezone.now())
        )
        if resumed:
            task_queue_after_commit(dispatch, business_id)
    return bool(resumed)


def twilio_account_pause(*, account_id: int, reason: str) -> None:
    logger.error("Pausing Twilio account %s: %s", account_id, reason)
    TwilioAccount.objects.filter(pk=account_id).update(
        paused_reason=reason, updated_at=timezone.now()
    )


def twilio_account_resume(*, account_id: int) -> bool:
    """Clears an account's pause and nudges the dispatch of each of its active businesses;
    False when it was not paused."""
    with transaction.atomic():
        resumed = (
            TwilioAccount.objects.filter(pk=account_id)
            .exclude(paused_reason="")
            .update(paused_reason="", updated_at=timezone.now())
        )
        if resumed:
            businesses = Business.objects.filter(twilio_account_id=account_id, is_active=True)
            for business_id in businesses.values_list("pk", flat=True):
                task_queue_after_commit(dispatch, business_id)
    return bool(resumed)


def dialing_set(*, paused: bool, reason: str) -> None:
    """Pauses or resumes all dialing; resuming nudges every active business's dispatch."""
    with transaction.atomic():
        control = dialing_control_lock()
        control.paused, control.reason = paused, reason
        control.save()
        if not paused:
            for business_id in Business.objects.filter(is_active=True).values_list("pk", flat=True):
                task_queue_after_commit(dispatch, business_id)
