from django.db import models, transaction
from django.db.models import Q

from calls.models.businesses import MAX_ATTEMPTS_LIMIT, Business, max_attempts_validators
from calls.models.campaigns import Campaign
from calls.models.status import StatusQuerySet
from calls.phone import validate_e164
from calls.signals import requests_settled


class CallRequestQuerySet(StatusQuerySet):
    def status_move(self, to: str, **changes) -> int:
        """As StatusQuerySet.status_move; a move to a closed status also announces the requests
        it settled (`calls.signals.requests_settled`, in the same transaction).

        The one place a request settles, so whatever follows a settling (the post-call webhook)
        happens once per settling on every path: a call that ended, an operator's cancel, a
        campaign stopped, an erasure, and any path added later that moves with status_move.
        The rows are locked before the UPDATE (pk order, as the UPDATE would lock them) so the
        ids announced are exactly the rows moved, also when another writer races for them.
        """
        if to not in self.model.CLOSED_STATUSES:
            return super().status_move(to, **changes)
        sources = [s for s, following in self.model.TRANSITIONS.items() if to in following]
        with transaction.atomic():
            ids = list(
                self.filter(status__in=sources)
                .select_for_update(no_key=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if not ids:
                return 0
            moved = StatusQuerySet.status_move(self.model.objects.filter(pk__in=ids), to, **changes)
            requests_settled.send(sender=self.model, request_ids=ids)
        return moved


class CallRequest(models.Model):
    """A wish to reach one number, which may take several attempts (CallLogs)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        ACTIVE = "active"
        DONE = "done"
        FAILED = "failed"
        CANCELED = "canceled"

    # Which status may follow which. `active` means exactly one live attempt; a closed request
    # (done, failed, canceled) reopens only when an operator retries it. A queued request fails
    # without a call only when it has no attempt left (dispatch never dials past its attempts).
    TRANSITIONS = {
        Status.QUEUED: {Status.ACTIVE, Status.CANCELED, Status.FAILED},
        Status.ACTIVE: {Status.QUEUED, Status.DONE, Status.FAILED, Status.CANCELED},
        Status.DONE: {Status.QUEUED},
        Status.FAILED: {Status.QUEUED},
        Status.CANCELED: {Status.QUEUED},
    }
    OPEN_STATUSES = (Status.QUEUED, Status.ACTIVE)
    CLOSED_STATUSES = (Status.DONE, Status.FAILED, Status.CANCELED)

    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="requests")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )
    to_number = models.CharField(max_length=16, validators=[validate_e164])
    status = models.CharField(max_length=16, choices=Status, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3, validators=max_attempts_validators)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    # Creates Twilio throttled in a row (reset when one goes through); each doubles the wait.
    throttled_count = models.PositiveSmallIntegerField(default=0)
    held_reason = models.TextField(
        blank=True,
        help_text="Why the next attempt waits: a calling rule or the calling window holds it.",
    )
    # The id of the calling rule that holds it (compliance/rules/*.toml); empty when nothing
    # does or the business's or campaign's own window does. The campaign page counts by it.
    held_rule = models.CharField(max_length=64, blank=True)
    # Times the rules or the window pushed the next attempt back (queuing, dispatch, a retry).
    window_holds = models.PositiveIntegerField(default=0)
    # An operator or the API asked to cancel it while a call was live or being placed: whatever
    # ends that call (or hands its unsent claim back), the request ends canceled, never retried.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # The caller's own data (an API client's CRM ids), returned as given; bounded by the API.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CallRequestQuerySet.as_manager()

    class Meta:
        indexes = [
            # Dispatch (a business's due queued requests, oldest first); the dashboard, /metrics.
            models.Index(
                fields=["business", "next_attempt_at", "id"],
                condition=Q(status="queued"),
                name="request_due_idx",
            ),
            # Dispatch: live calls per campaign of a business, for campaign concurrency.
            models.Index(
                fields=["business", "campaign"],
                condition=Q(status="active"),
                name="request_active_idx",
            ),
            # Retention: closed requests past the retention period, oldest first.
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["done", "failed", "canceled"]),
                name="request_closed_idx",
            ),
        ]
        constraints = [
            # Every retry time stays a real date: see MAX_ATTEMPTS_LIMIT.
            models.CheckConstraint(
                condition=Q(max_attempts__gte=1, max_attempts__lte=MAX_ATTEMPTS_LIMIT),
                name="request_max_attempts_bounded",
            ),
            # A number is queued or live at most once per campaign.
            models.UniqueConstraint(
                fields=["campaign", "to_number"],
                condition=Q(status__in=["queued", "active"]),
                name="one_open_request_per_campaign_number",
            ),
        ]

    def __str__(self):
        return f"{self.to_number} ({self.status})"
