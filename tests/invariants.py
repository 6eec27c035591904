"""What must hold of the queue in the database whatever happened to it: the race matrix checks it
after every race, the model of the queue after every step (so it reads the tables in a few
grouped queries, not row by row)."""

from collections import Counter

from django.conf import settings
from django.db.models import Count, F, Q

from calls.models import Business, CallLog, CallRequest, Campaign

LIVE = CallLog.LIVE_STATUSES


def queue_violations(*, business_ids=None) -> list[str]:
    """Every broken invariant, as a sentence naming the rows; empty when all hold."""
    calls = CallLog.objects.filter(direction=CallLog.Direction.OUTBOUND, status__in=LIVE)
    requests = CallRequest.objects.all()
    businesses = Business.objects.all()
    if business_ids is not None:
        calls = calls.filter(business_id__in=business_ids)
        requests = requests.filter(business_id__in=business_ids)
        businesses = businesses.filter(pk__in=business_ids)
    live = list(calls.values_list("business_id", "to_number", "request_id"))
    wrong = []

    per_business = Counter(business_id for business_id, _, _ in live)
    for pk, cap in businesses.filter(pk__in=per_business).values_list("pk", "max_concurrent_calls"):
        if per_business[pk] > cap:
            wrong.append(f"business {pk} has {per_business[pk]} live calls, over its cap of {cap}")
    cap = settings.TWILIO_MAX_CONCURRENT_CALLS
    if cap is not None and business_ids is None and len(live) > cap:
        wrong.append(f"{len(live)} live calls, over the account-wide cap of {cap}")
    numbers = Counter((business_id, number) for business_id, number, _ in live)
    wrong += [f"{number} is rung twice at once by business {business_id}"
              for (business_id, number), n in numbers.items() if n > 1]  # fmt: skip

    live_per_request = Counter(request_id for _, _, request_id in live if request_id)
    # Requests that are active, or whose call is live, or that broke a rule of their own.
    suspects = requests.filter(
        Q(status=CallRequest.Status.ACTIVE)
        | Q(pk__in=list(live_per_request))
        | Q(attempts__gt=F("max_attempts"))
        | Q(status=CallRequest.Status.QUEUED, campaign__status__in=Campaign.CLOSED_STATUSES)
        | Q(status=CallRequest.Status.ACTIVE, campaign__status=Campaign.Status.DONE)
    ).values_list("pk", "status", "attempts", "max_attempts", "campaign_id", "campaign__status")
    for pk, status, attempts, most, campaign_id, campaign_status in suspects:
        if status == CallRequest.Status.ACTIVE and live_per_request[pk] != 1:
            wrong.append(f"request {pk} is active with {live_per_request[pk]} live calls")
        if status != CallRequest.Status.ACTIVE and live_per_request[pk]:
            wrong.append(f"request {pk} is {status} while its call is live")
        if attempts > most:
            wrong.append(f"request {pk} made {attempts} of {most} attempts")
        # A queued request of a finished or canceled campaign would never be dialed nor
        # settled; an active one of a finished campaign means it finished with a call live.
        # (An active request of a canceled campaign is fine: its call is being hung up.)
        queued_in_closed = status == "queued" and campaign_status in Campaign.CLOSED_STATUSES
        if queued_in_closed or (status == "active" and campaign_status == Campaign.Status.DONE):
            wrong.append(f"request {pk} is {status} in campaign {campaign_id} ({campaign_status})")
    return wrong


def idle_campaigns(*, business_ids=None) -> list[int]:
    """Running campaigns with requests but none open, stopping ones with none active: the ones
    the cleanup must end."""
    campaigns = Campaign.objects.filter(status__in=[Campaign.Status.RUNNING, "stopping"])
    if business_ids is not None:
        campaigns = campaigns.filter(business_id__in=business_ids)
    counted = campaigns.annotate(
        requests_total=Count("requests"),
        open_requests=Count("requests", filter=Q(requests__status__in=CallRequest.OPEN_STATUSES)),
        active_requests=Count("requests", filter=Q(requests__status="active")),
    ).values_list("pk", "status", "requests_total", "open_requests", "active_requests")
    return [
        pk
        for pk, status, total, open_, active in counted
        if (status == Campaign.Status.RUNNING and total and not open_)
        or (status == Campaign.Status.STOPPING and not active)
    ]
