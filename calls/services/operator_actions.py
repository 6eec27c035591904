"""What an operator asks for in the admin (or a business's systems over the API): hang up,
reconcile, retry now, cancel a request, steer campaigns, resume, deactivate or activate
businesses. Each returns an ActionResult saying what it changed and why the rest was left.
`actor` is the user who asked: a call they hang up ends by their hand."""

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from calls.models.businesses import MAX_ATTEMPTS_LIMIT
from calls.services.locks import business_lock, campaign_lock, request_lock
from calls.services.pauses import business_resume
from calls.services.status import calls_hang_up_request
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch, reconcile_call

logger = logging.getLogger(__name__)

PLURALS = {"business": "businesses"}
# Why a campaign's table refuses an operator's move: only an ended campaign refuses one.
ENDED_CAMPAIGN = {
    Campaign.Status.DONE: "had finished",
    Campaign.Status.CANCELED: "had been canceled",
}


@dataclass
class ActionResult:
    """How many rows an action changed, and for the rest, why not (reason → rows)."""

    changed: int = 0
    unchanged: Counter = field(default_factory=Counter)

    @classmethod
    def refused(cls, reason: str) -> "ActionResult":
        return cls(unchanged=Counter({reason: 1}))

    def __add__(self, other: "ActionResult") -> "ActionResult":
        return ActionResult(self.changed + other.changed, self.unchanged + other.unchanged)

    def summary(self, noun: str, verb: str) -> str:
        """'2 calls queued to hang up; 1 had already ended.', or when nothing changed for one
        reason, '0 calls queued to hang up: all selected calls had already ended.' A reason is
        phrased to read after a count and after "all selected calls" alike."""
        plural = PLURALS.get(noun, f"{noun}s")
        text = f"{self.changed} {noun if self.changed == 1 else plural} {verb}"
        if not self.unchanged:
            return f"{text}."
        if self.changed == 0 and len(self.unchanged) == 1:
            ((reason, count),) = self.unchanged.items()
            which = f"the selected {noun}" if count == 1 else f"all selected {plural}"
            return f"{text}: {which} {reason}."
        reasons = "; ".join(f"{count} {reason}" for reason, count in self.unchanged.items())
        return f"{text}; {reasons}."


def calls_hang_up(*, call_ids, actor=None) -> ActionResult:
    """Asks for a hang-up of each selected call that is still live (see hang_ups)."""
    call_ids = list(call_ids)
    with transaction.atomic():
        live = list(
            CallLog.objects.select_for_update(no_key=True)
            .filter(pk__in=call_ids, status__in=CallLog.LIVE_STATUSES)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        calls_hang_up_request(call_ids=live, actor=actor)
    return _live_result(call_ids, live)


def calls_reconcile(*, call_ids) -> ActionResult:
    """Queues a reconcile with Twilio for each selected call that is still live."""
    call_ids = list(call_ids)
    with transaction.atomic():
        live = list(
            CallLog.objects.filter(pk__in=call_ids, status__in=CallLog.LIVE_STATUSES).values_list(
                "pk", flat=True
            )
        )
        for call_id in live:
            task_queue_after_commit(reconcile_call, call_id)
    return _live_result(call_ids, live)


def _live_result(call_ids, live) -> ActionResult:
    result = ActionResult(changed=len(live))
    if len(call_ids) > len(live):
        result.unchanged["had already ended"] = len(call_ids) - len(live)
    return result


def requests_retry_now(*, request_ids) -> ActionResult:
    return sum((request_retry_now(request_id=pk) for pk in request_ids), ActionResult())


def request_retry_now(*, request_id: int) -> ActionResult:
    """Queues a closed or waiting request to dial at once, with one more attempt if needed (never
    past MAX_ATTEMPTS_LIMIT)."""
    with transaction.atomic():
        request = request_lock(request_id=request_id)
        if request is None:
            return ActionResult.refused("no longer existed")
        if request.status == CallRequest.Status.ACTIVE:
            return ActionResult.refused("had a live call already")
        campaign = request.campaign
        if campaign and campaign.status == Campaign.Status.CANCELED:
            return ActionResult.refused("belonged to a canceled campaign")
        if request.attempts >= MAX_ATTEMPTS_LIMIT:
            return ActionResult.refused(f"had had the most attempts allowed ({MAX_ATTEMPTS_LIMIT})")
        if campaign:
            # Dispatch dials only running campaigns: a finished one runs again for this retry.
            # Under the campaign's lock (request_lock took it), so a finish cannot cross it.
            Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.DONE).status_move(
                Campaign.Status.RUNNING, ended_at=None
            )
        rows = CallRequest.objects.filter(pk=request.pk)
        changes = {
            "next_attempt_at": timezone.now(),
            "max_attempts": max(request.max_attempts, request.attempts + 1),
            "cancel_requested_at": None,
        }
        try:
            with transaction.atomic():
                if request.status == CallRequest.Status.QUEUED:
                    rows.filter(status=request.status).update(**changes, updated_at=timezone.now())
                else:
                    rows.status_move(CallRequest.Status.QUEUED, **changes)
        except IntegrityError:
            return ActionResult.refused("had their number queued again in the campaign")
        task_queue_after_commit(dispatch, request.business_id)
    return ActionResult(changed=1)


def request_cancel(*, request_id: int, actor=None) -> ActionResult:
    """Cancels a request: a queued one at once; an active one is recorded as to be canceled and
    its call hung up (a call not yet sent is never sent), so it settles canceled as that call
    ends, whatever the end. A closed request is left as it is."""
    with transaction.atomic():
        request = request_lock(request_id=request_id)
        if request is None:
            return ActionResult.refused("no longer existed")
        if request.status in CallRequest.CLOSED_STATUSES:
            return ActionResult.refused(f"was {request.status} already")
        now = timezone.now()
        rows = CallRequest.objects.filter(pk=request.pk)
        if request.status == CallRequest.Status.QUEUED:
            rows.status_move(
                CallRequest.Status.CANCELED,
                last_error="Canceled by request.",
                cancel_requested_at=now,
            )
            return ActionResult(changed=1)
        rows.update(cancel_requested_at=now, updated_at=now)
        live = request.calls.filter(status__in=CallLog.LIVE_STATUSES)
        calls_hang_up_request(call_ids=live.values_list("pk", flat=True), actor=actor)
    return ActionResult(changed=1)


def campaign_set_status(
    *, campaign_id: int, status: str, hang_up: bool = False, actor=None
) -> ActionResult:
    """Pauses, resumes, stops or cancels a campaign, as its transition table allows; cancel also
    cancels its queued requests and, with `hang_up`, hangs up its live calls."""
    with transaction.atomic():
        business_id = Campaign.objects.values_list("business_id", flat=True).get(pk=campaign_id)
        business_lock(business_id=business_id)
        campaign = campaign_lock(campaign_id=campaign_id)
        if campaign is None:
            return ActionResult.refused("no longer existed")
        if campaign.status == status:
            return ActionResult.refused("had that status already")
        ended_at = timezone.now() if status in Campaign.CLOSED_STATUSES else None
        if not Campaign.objects.filter(pk=campaign.pk).status_move(status, ended_at=ended_at):
            return ActionResult.refused(ENDED_CAMPAIGN.get(campaign.status, campaign.status))
        if status == Campaign.Status.CANCELED:
            campaign.requests.filter(status=CallRequest.Status.QUEUED).status_move(
                CallRequest.Status.CANCELED, last_error="The campaign was canceled."
            )
            if hang_up:
                # A call whose create is in flight is among them: hung up once its SID is known.
                live = CallLog.objects.filter(
                    request__campaign=campaign, status__in=CallLog.LIVE_STATUSES
                )
                calls_hang_up_request(call_ids=live.values_list("pk", flat=True), actor=actor)
        task_queue_after_commit(dispatch, business_id)
    return ActionResult(changed=1)


def campaigns_set_status(
    *, campaign_ids, status: str, hang_up: bool = False, actor=None
) -> ActionResult:
    results = [
        campaign_set_status(campaign_id=pk, status=status, hang_up=hang_up, actor=actor)
        for pk in campaign_ids
    ]
    return sum(results, ActionResult())


def businesses_resume(*, business_ids) -> ActionResult:
    result = ActionResult()
    for business_id in business_ids:
        if business_resume(business_id=business_id):
            result.changed += 1
        else:
            result.unchanged["had no pause to clear"] += 1
    return result


def business_deactivate(*, business_id: int, actor=None) -> ActionResult:
    """Stops a business dialing (its queued requests wait) and hangs up its live calls. A business
    is deactivated, never deleted: its calls, leads and events are its history."""
    with transaction.atomic():
        business = business_lock(business_id=business_id)
        if not business.is_active:
            return ActionResult.refused("was inactive already")
        Business.objects.filter(pk=business.pk).update(is_active=False, updated_at=timezone.now())
        live = CallLog.objects.filter(business=business, status__in=CallLog.LIVE_STATUSES)
        hung_up = list(live.values_list("pk", flat=True))
        calls_hang_up_request(call_ids=hung_up, actor=actor)
    logger.warning(
        "Business %s deactivated by %s; %s live calls hung up", business_id, actor, len(hung_up)
    )
    return ActionResult(changed=1)


def businesses_deactivate(*, business_ids, actor=None) -> ActionResult:
    return sum(
        (business_deactivate(business_id=pk, actor=actor) for pk in business_ids), ActionResult()
    )


def businesses_activate(*, business_ids) -> ActionResult:
    """Lets inactive businesses dial again; their queued requests go out at once."""
    result = ActionResult()
    with transaction.atomic():
        for business_id in business_ids:
            if Business.objects.filter(pk=business_id, is_active=False).update(
                is_active=True, updated_at=timezone.now()
            ):
                result.changed += 1
                task_queue_after_commit(dispatch, business_id)
            else:
                result.unchanged["was active already"] += 1
    return result
