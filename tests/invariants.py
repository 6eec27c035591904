"""What must hold of the queue in the database whatever happened to it: the race matrix checks it
after every race, the model of the queue after every step."""

from collections import Counter

from django.conf import settings
from django.db.models import Count, F, Q

from calls.models import Business, CallLog, CallRequest, Campaign

LIVE = CallLog.LIVE_STATUSES


def queue_violations(*, business_ids=None) -> list[str]:
    """Every broken invariant, as a sentence naming the rows; empty when all hold."""
    businesses = Business.objects.all()
    calls = CallLog.objects.filter(direction=CallLog.Direction.OUTBOUND)
    requests = CallRequest.objects.all()
    if business_ids is not None:
        businesses = businesses.filter(pk__in=business_ids)
        calls = calls.filter(business_id__in=business_ids)
        requests = requests.filter(business_id__in=business_ids)
    live = calls.filter(status__in=LIVE)
    wrong = []

    per_business = Counter(live.values_list("business_id", flat=True))
    for business in businesses:
        if per_business[business.pk] > business.max_concurrent_calls:
            wrong.append(
                f"business {business.pk} has {per_business[business.pk]} live calls, "
                f"over its cap of {business.max_concurrent_calls}"
            )
    cap = settings.TWILIO_MAX_CONCURRENT_CALLS
    if (
        cap is not None
        and CallLog.objects.filter(direction=CallLog.Direction.OUTBOUND, status__in=LIVE).count()
        > cap
    ):
        wrong.append(f"more live calls than the account-wide cap of {cap}")

    twice = live.values("business_id", "to_number").annotate(n=Count("pk")).filter(n__gt=1)
    wrong += [f"{row['to_number']} is rung twice at once by business {row['business_id']}"
              for row in twice]  # fmt: skip

    live_per_request = Counter(live.exclude(request=None).values_list("request_id", flat=True))
    for request in requests.filter(status=CallRequest.Status.ACTIVE):
        if live_per_request[request.pk] != 1:
            wrong.append(
                f"request {request.pk} is active with {live_per_request[request.pk]} live calls"
            )
    open_ids = set(requests.filter(status=CallRequest.Status.ACTIVE).values_list("pk", flat=True))
    for request_id in live_per_request:
        if request_id not in open_ids:
            status = CallRequest.objects.get(pk=request_id).status
            wrong.append(f"request {request_id} is {status} while its call is live")

    over = requests.filter(attempts__gt=F("max_attempts"))
    wrong += [f"request {r.pk} made {r.attempts} of {r.max_attempts} attempts" for r in over]

    # A queued request of a finished or canceled campaign would never be dialed nor settled; an
    # active one of a finished campaign means it finished with a call still live. (An active
    # request of a canceled campaign is fine: its call is being hung up.)
    stranded = requests.filter(
        Q(status=CallRequest.Status.QUEUED, campaign__status__in=Campaign.CLOSED_STATUSES)
        | Q(status=CallRequest.Status.ACTIVE, campaign__status=Campaign.Status.DONE)
    )
    wrong += [
        f"request {r.pk} is {r.status} in campaign {r.campaign_id}, which is {r.campaign.status}"
        for r in stranded.select_related("campaign")
    ]
    return wrong


def idle_campaigns(*, business_ids=None) -> list[Campaign]:
    """Running campaigns with no open request, stopping ones with no live request: the ones
    the cleanup must end."""
    campaigns = Campaign.objects.filter(status__in=[Campaign.Status.RUNNING, "stopping"])
    if business_ids is not None:
        campaigns = campaigns.filter(business_id__in=business_ids)
    idle = []
    for campaign in campaigns:
        requests = campaign.requests
        if campaign.status == Campaign.Status.RUNNING:
            if (
                requests.exists()
                and not requests.filter(Q(status__in=CallRequest.OPEN_STATUSES)).exists()
            ):
                idle.append(campaign)
        elif not requests.filter(status=CallRequest.Status.ACTIVE).exists():
            idle.append(campaign)
    return idle
