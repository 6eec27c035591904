import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from calls.phone import validate_e164
from calls.scripts import (  # default_twiml: migration 0001 names it here
    DEFAULT_SAY,
    Language,
    Voice,
    default_twiml,  # noqa: F401
    script_errors,
    validate_guarded_verbs,
)


class StatusQuerySet(models.QuerySet):
    """Status writes for a model with a TRANSITIONS table: {status: what may follow}."""

    def status_move(self, to: str, **changes) -> int:
        """Moves the rows whose status may be followed by `to`; returns how many moved.

        One conditional UPDATE: a row the table does not allow to move is left as it is, and of
        two writers racing for one row only the first moves it (the second finds it moved).
        """
        sources = [s for s, following in self.model.TRANSITIONS.items() if to in following]
        rows = self.filter(status__in=sources)
        return rows.update(status=to, updated_at=timezone.now(), **changes)


class Business(models.Model):
    """A tenant: its number is the caller ID of its outbound calls and receives its inbound ones."""

    name = models.CharField(max_length=200)
    phone_number = models.CharField(max_length=16, unique=True, validators=[validate_e164])
    max_concurrent_calls = models.PositiveSmallIntegerField(default=3)
    max_attempts = models.PositiveSmallIntegerField(
        default=3, help_text="Attempts per call request before it is given up."
    )
    retry_delay_seconds = models.PositiveIntegerField(
        default=300, help_text="Delay before the first retry; it doubles with each attempt."
    )
    is_active = models.BooleanField(
        default=True, help_text="An inactive business dials nothing; it is never deleted."
    )
    paused_reason = models.TextField(
        blank=True,
        help_text="Set when Twilio refuses this business's calls; no new dials until cleared.",
    )
    allowed_recording_hosts = models.TextField(
        blank=True,
        help_text="Hosts (one per line) a campaign's recording may be played from, over https.",
    )
    extra_twiml_verbs = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_guarded_verbs],
        help_text="Verbs a superuser's raw TwiML may use besides Say, Play, Pause and Hangup.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.phone_number})"

    @property
    def can_dial(self) -> bool:
        return self.is_active and not self.paused_reason

    @property
    def recording_hosts(self) -> list[str]:
        return [h.strip().lower() for h in self.allowed_recording_hosts.split() if h.strip()]


class DialingControl(models.Model):
    """One row: the switch that pauses all dialing, and the lock for the account-wide cap."""

    paused = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "dialing control"

    def __str__(self):
        return "All dialing paused" if self.paused else "Dialing enabled"

    @classmethod
    def get(cls) -> "DialingControl":
        return cls.objects.get_or_create(pk=1)[0]


class Campaign(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        PAUSED = "paused"
        STOPPING = "stopping"
        DONE = "done"
        CANCELED = "canceled"

    # Which status may follow which. An operator pauses, resumes, stops and cancels; dispatch ends
    # a campaign with nothing left (done); retrying one of its requests runs a done one again.
    TRANSITIONS = {
        Status.RUNNING: {Status.PAUSED, Status.STOPPING, Status.DONE, Status.CANCELED},
        Status.PAUSED: {Status.RUNNING, Status.STOPPING, Status.CANCELED},
        Status.STOPPING: {Status.RUNNING, Status.PAUSED, Status.DONE, Status.CANCELED},
        Status.DONE: {Status.RUNNING},
        Status.CANCELED: set(),
    }
    # Dispatch claims requests of running campaigns only.
    DIALING_STATUSES = (Status.RUNNING,)
    # A failed attempt is retried while its campaign may still run.
    RETRYING_STATUSES = (Status.RUNNING, Status.PAUSED)
    # No new requests join these.
    CLOSED_STATUSES = (Status.DONE, Status.CANCELED)

    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)
    concurrency = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Live calls at most; the business's cap when empty."
    )
    say_text = models.TextField(
        default=DEFAULT_SAY, blank=True, help_text="What the callee hears, read aloud."
    )
    voice = models.CharField(max_length=32, choices=Voice, blank=True)
    language = models.CharField(max_length=8, choices=Language, blank=True)
    recording_url = models.URLField(
        blank=True, help_text="Played before the text: https, on one of the business's hosts."
    )
    raw_twiml = models.TextField(
        blank=True,
        help_text=(
            "Superusers only: served instead of the script. Say, Play, Pause and Hangup, plus "
            "the verbs the business is allowed."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = StatusQuerySet.as_manager()

    class Meta:
        constraints = [
            # enqueue_calls --campaign NAME finds the campaign by name within its business.
            models.UniqueConstraint(fields=["business", "name"], name="campaign_name_per_business"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        business = Business.objects.filter(pk=self.business_id).first()
        stored = Campaign.objects.filter(pk=self.pk).values_list("raw_twiml", flat=True).first()
        # Raw TwiML is checked when written (only superusers can); the answer view checks it
        # again each time, so a campaign whose stored TwiML fails stays editable meanwhile.
        errors = script_errors(self, business, raw=self.raw_twiml != stored) if business else {}
        if errors:
            raise ValidationError(errors)

    @property
    def allows_retries(self) -> bool:
        return self.status in self.RETRYING_STATUSES


class CallRequest(models.Model):
    """A wish to reach one number, which may take several attempts (CallLogs)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        ACTIVE = "active"
        DONE = "done"
        FAILED = "failed"
        CANCELED = "canceled"

    # Which status may follow which. `active` means exactly one live attempt; a closed request
    # (done, failed, canceled) reopens only when an operator retries it.
    TRANSITIONS = {
        Status.QUEUED: {Status.ACTIVE, Status.CANCELED},
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
    max_attempts = models.PositiveSmallIntegerField(default=3)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    # Creates Twilio throttled in a row (reset when one goes through); each doubles the wait.
    throttled_count = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StatusQuerySet.as_manager()

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
            # A number is queued or live at most once per campaign.
            models.UniqueConstraint(
                fields=["campaign", "to_number"],
                condition=Q(status__in=["queued", "active"]),
                name="one_open_request_per_campaign_number",
            ),
        ]

    def __str__(self):
        return f"{self.to_number} ({self.status})"


# CallLog's live statuses (pending first) as index and constraint conditions spell them.
LIVE_CONDITION = ["pending", "queued", "initiated", "ringing", "in-progress"]


class CallLog(models.Model):
    """One real phone call: an outbound attempt, or an inbound call."""

    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"

    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        INITIATED = "initiated"
        RINGING = "ringing"
        IN_PROGRESS = "in-progress", "In progress"
        COMPLETED = "completed"
        BUSY = "busy"
        NO_ANSWER = "no-answer", "No answer"
        CANCELED = "canceled"
        FAILED = "failed"

    class EndedBy(models.TextChoices):
        TWILIO = "twilio", "Twilio callback"
        DISPATCH = "dispatch", "Create request"
        CLEANUP = "cleanup"
        RECONCILE = "reconcile", "Reconcile with Twilio"
        OPERATOR = "operator"

    # Statuses only move forward; every terminal status shares the last rank, so it is final.
    RANK = {
        Status.PENDING: 0,
        Status.QUEUED: 1,
        Status.INITIATED: 2,
        Status.RINGING: 3,
        Status.IN_PROGRESS: 4,
        Status.COMPLETED: 5,
        Status.BUSY: 5,
        Status.NO_ANSWER: 5,
        Status.CANCELED: 5,
        Status.FAILED: 5,
    }
    LIVE_STATUSES = tuple(s for s, rank in RANK.items() if rank < 5)
    TERMINAL_STATUSES = tuple(s for s, rank in RANK.items() if rank == 5)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="calls")
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    request = models.ForeignKey(
        CallRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    call_sid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    direction = models.CharField(max_length=8, choices=Direction)
    from_number = models.CharField(max_length=64)
    to_number = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status, default=Status.PENDING)
    last_sequence_number = models.PositiveIntegerField(null=True, blank=True)
    dial_started_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    answered_by = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    sip_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ended_by = models.CharField(max_length=16, choices=EndedBy, blank=True)
    hang_up_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The operator who asked to hang up; the call then ends by their hand.",
    )
    # A hang-up was asked for: retried until Twilio confirms the call ended.
    hang_up_requested_at = models.DateTimeField(null=True, blank=True)
    # When the cleanup may next nudge a task about this call, and how many nudges it has had:
    # a reconcile or an unconfirmed hang-up while it is live, the lead task once it has ended.
    nudge_due_at = models.DateTimeField(null=True, blank=True)
    nudge_count = models.PositiveSmallIntegerField(default=0)
    # First time Twilio's (eventually consistent) list did not show this unconfirmed call.
    unlisted_since = models.DateTimeField(null=True, blank=True)
    # Why this call has no lead (and the cleanup no longer nudges the lead task for it).
    no_lead_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Cleanup (a): pending calls Twilio never confirmed, oldest first.
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending", call_sid__isnull=True),
                name="calllog_orphan_idx",
            ),
            # Dispatch, cleanup (b), the dashboard, /metrics: live calls per business and in all.
            models.Index(
                fields=["business", "updated_at"],
                condition=Q(status__in=LIVE_CONDITION),
                name="calllog_live_idx",
            ),
            # Cleanup (c): recently ended calls that still have no lead.
            models.Index(
                fields=["ended_at"], condition=Q(lead__isnull=True), name="calllog_leadless_idx"
            ),
            # Retention (oldest first); the dashboard and /metrics (calls ended since a time).
            models.Index(
                fields=["ended_at"], condition=Q(ended_at__isnull=False), name="calllog_ended_idx"
            ),
            # Cleanup (b): live calls with a SID, by their last word from Twilio (silent calls).
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=LIVE_CONDITION[1:], call_sid__isnull=False),
                name="calllog_silent_idx",
            ),
            # Cleanup: live calls whose hang-up Twilio has not confirmed, by when to ask again.
            models.Index(
                fields=["nudge_due_at"],
                condition=Q(status__in=LIVE_CONDITION, hang_up_requested_at__isnull=False),
                name="calllog_hang_up_idx",
            ),
        ]
        constraints = [
            # An active request has exactly one live attempt.
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status__in=LIVE_CONDITION),
                name="one_live_call_per_request",
            ),
            # A business never rings one number twice at once, however many dispatchers race.
            models.UniqueConstraint(
                fields=["business", "to_number"],
                condition=Q(direction="outbound", status__in=LIVE_CONDITION),
                name="one_live_outbound_call_per_number",
            ),
        ]

    def __str__(self):
        return self.call_sid or f"{self.direction} {self.to_number} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL_STATUSES

    @property
    def other_party(self) -> str:
        return self.to_number if self.direction == self.Direction.OUTBOUND else self.from_number

    @classmethod
    def statuses_before(cls, status: str) -> list[str]:
        return [s for s, rank in cls.RANK.items() if rank < cls.RANK[status]]


class CallEvent(models.Model):
    """One status report about a call (a Twilio callback or a reconcile): the audit trail."""

    class Source(models.TextChoices):
        CALLBACK = "callback"
        RECONCILE = "reconcile"

    call = models.ForeignKey(CallLog, on_delete=models.CASCADE, related_name="events")
    source = models.CharField(max_length=16, choices=Source, default=Source.CALLBACK)
    status = models.CharField(max_length=16)
    sequence_number = models.PositiveIntegerField(null=True, blank=True)
    sip_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    applied = models.BooleanField()
    # Every parameter Twilio sent (numbers included); NULL once pruned or erased.
    params = models.JSONField(default=dict, null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            # Retention: events whose raw parameters are still kept, oldest first.
            models.Index(
                fields=["received_at"],
                condition=Q(params__isnull=False),
                name="callevent_params_idx",
            ),
        ]

    def __str__(self):
        return f"{self.status} #{self.sequence_number}"


# Kept in modules of their own, imported here so that Django registers them with this app.
from calls.audit import NumberErasure, OperatorAction, OperatorActionRow  # noqa: E402,F401
from calls.coordination import DialToken, EndedCallTally, Lease  # noqa: E402,F401
from calls.preferences import OperatorPreference  # noqa: E402,F401
from calls.tenancy import Membership  # noqa: E402,F401
