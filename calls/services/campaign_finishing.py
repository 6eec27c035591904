"""Ending campaigns that have nothing left to do: a running one with no open request, a stopping
one with no live call (its queued requests are canceled). Dispatch asks after each claim, and the
cleanup asks every minute for every business, so a campaign whose last request was closed
outside a dispatch (an API cancel, an erasure) or whose last nudge the broker lost still ends."""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from calls.models import CallRequest, Campaign
from calls.services.locks import campaign_lock

# Campaigns ended per call at most; the next run takes the rest.
FINISH_LIMIT = 500


def campaigns_finish_idle(*, business_id: int | None = None) -> int:
    """Ends every idle campaign (of one business, or of all); returns how many it ended.

    The candidates are read without a lock; each is then judged again under its own lock, so a
    request added or reopened meanwhile (which takes the same lock first) keeps it running.
    """
    requests = CallRequest.objects.filter(campaign=OuterRef("pk"))
    open_requests = requests.filter(status__in=CallRequest.OPEN_STATUSES)
    live = requests.filter(status=CallRequest.Status.ACTIVE)
    candidates = Campaign.objects.alias(
        has_requests=Exists(requests), has_open=Exists(open_requests), has_live=Exists(live)
    ).filter(
        Q(status=Campaign.Status.RUNNING, has_requests=True, has_open=False)
        | Q(status=Campaign.Status.STOPPING, has_live=False)
    )
    if business_id is not None:
        candidates = candidates.filter(business_id=business_id)
    ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:FINISH_LIMIT])
    return sum(campaign_finish_idle(campaign_id=pk) for pk in ids)


def campaign_finish_idle(*, campaign_id: int) -> bool:
    """Ends the campaign if it has nothing left to do; True when it did."""
    with transaction.atomic():
        campaign = campaign_lock(campaign_id=campaign_id)
        requests = CallRequest.objects.filter(campaign_id=campaign_id)
        if campaign is None:
            return False
        if campaign.status == Campaign.Status.STOPPING:
            if requests.filter(status=CallRequest.Status.ACTIVE).exists():
                return False
            requests.filter(status=CallRequest.Status.QUEUED).status_move(
                CallRequest.Status.CANCELED, last_error="The campaign was stopped."
            )
        elif campaign.status == Campaign.Status.RUNNING:
            if requests.filter(status__in=CallRequest.OPEN_STATUSES).exists():
                return False
            if not requests.exists():
                return False  # made without numbers (the admin and the API never do)
        else:
            return False
        moved = Campaign.objects.filter(pk=campaign_id).status_move(
            Campaign.Status.DONE, ended_at=timezone.now()
        )
    return bool(moved)
