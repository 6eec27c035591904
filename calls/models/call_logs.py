import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from calls.models.businesses import Business
from calls.models.requests import CallRequest

# CallLog's live statuses (pending first) as index and constraint conditions spell them.
LIVE_CONDITION = ["pending", "queued", "initiated", "ringing", "in-progress"]
# A <Gather> with numDigits="1" sends one; the column holds a few more without refusing them.
DIGITS_MAX = 32


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

    class AnsweredBy(models.TextChoices):
        """Twilio's answering-machine detection verdicts (AnsweredBy)."""

        HUMAN = "human"
        MACHINE_START = "machine_start", "Machine (greeting started)"
        MACHINE_END_BEEP = "machine_end_beep", "Machine (after the beep)"
        MACHINE_END_SILENCE = "machine_end_silence", "Machine (after silence)"
        MACHINE_END_OTHER = "machine_end_other", "Machine (greeting ended)"
        FAX = "fax"
        UNKNOWN = "unknown"

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
    # Verdicts that mean no person picked up: the attempt "reached a machine". A fax is one too
    # (nothing to leave on it); `unknown` is treated as a person, who hears the script.
    MACHINE_ANSWERS = (
        AnsweredBy.MACHINE_START,
        AnsweredBy.MACHINE_END_BEEP,
        AnsweredBy.MACHINE_END_SILENCE,
        AnsweredBy.MACHINE_END_OTHER,
        AnsweredBy.FAX,
    )

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="calls")
    # The account the call was placed through (or received on): its business's when it was
    # claimed; None: the main account. Its requests and webhooks are this account's alone.
    twilio_account = models.ForeignKey(
        "twilio_accounts.TwilioAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calls",
    )
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
    # When Twilio took the update that plays the campaign's voicemail message to a machine.
    voicemail_left_at = models.DateTimeField(null=True, blank=True)
    # When the update for a machine (the voicemail message, or a hang-up) was claimed for sending:
    # set before the request goes to Twilio, so two verdicts or a task run twice send it once.
    machine_update_at = models.DateTimeField(null=True, blank=True)
    # The keys the callee pressed at the campaign's prompt (a <Gather>).
    digits = models.CharField(max_length=DIGITS_MAX, blank=True)
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
    # What Twilio charged, as a positive cost (Twilio reports it negative, e.g. "-0.01300"), in
    # `price_unit`. Only the Call resource carries it, some time after the call ends, never a
    # callback: the cleanup asks for it (calls.services.prices), spaced, a bounded number of times.
    price = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    price_unit = models.CharField(max_length=8, blank=True)
    price_checks = models.PositiveSmallIntegerField(default=0)
    price_due_at = models.DateTimeField(null=True, blank=True)
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
            # Dispatch: an account's live calls, against its max_concurrent_calls.
            models.Index(
                fields=["twilio_account"],
                condition=Q(status__in=LIVE_CONDITION, direction="outbound"),
                name="calllog_account_live_idx",
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
            # The dashboard and /metrics: each business's outbound calls dialed in the last hour.
            models.Index(
                fields=["business", "created_at"],
                condition=Q(direction="outbound"),
                name="calllog_outbound_created_idx",
            ),
            # The calling rules' caps (calls.services.calling_rules.numbers_history): a business's
            # creates sent to some numbers lately.
            models.Index(
                fields=["business", "to_number", "dial_started_at"],
                condition=Q(direction="outbound", dial_started_at__isnull=False),
                name="calllog_attempts_idx",
            ),
            # Cleanup: ended outbound calls Twilio has not priced yet, oldest first.
            models.Index(
                fields=["ended_at"],
                condition=Q(price__isnull=True, call_sid__isnull=False, direction="outbound"),
                name="calllog_unpriced_idx",
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
    def reached_machine(self) -> bool:
        return self.answered_by in self.MACHINE_ANSWERS

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
        # Twilio's answering-machine verdict; `status` holds the verdict (AnsweredBy).
        MACHINE_DETECTION = "amd", "Machine detection"

    call = models.ForeignKey(CallLog, on_delete=models.CASCADE, related_name="events")
    source = models.CharField(max_length=16, choices=Source, default=Source.CALLBACK)
    # A call status, or for a machine-detection event the verdict (as long as answered_by).
    status = models.CharField(max_length=32)
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
