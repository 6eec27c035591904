from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from calls.models.businesses import Business, validate_weekdays, window_hour_errors
from calls.models.status import StatusQuerySet
from calls.scripts import (
    DEFAULT_OPT_OUT_PROMPT,
    DEFAULT_SAY,
    UPDATE_TWIML_MAX,
    Language,
    Voice,
    script_errors,
    voicemail_twiml,
)
from compliance.purposes import Purpose
from compliance.windows import CallingWindow


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
    # A message a machine records whole (about a minute read aloud).
    VOICEMAIL_MAX = 1000
    # A machine is tried again at most once a day unless the campaign says otherwise.
    MACHINE_RETRY_HOURS = 24

    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)
    concurrency = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Live calls at most; the business's cap when empty."
    )
    # Chosen when the campaign is created (the admin and the API ask, nothing preselected) and
    # fixed after: which laws hold its calls. The default is for rows made in code and for the
    # campaigns that existed before purposes (what they did then: the business's window).
    purpose = models.CharField(
        max_length=16,
        choices=Purpose,
        default=Purpose.INFORMATIONAL,
        help_text="Which calling rules hold its calls; fixed once the campaign exists.",
    )
    # Superusers only (the admin), with who set it: a telemarketing campaign that may dial
    # without a written consent on file (compliance/consent.py), and why.
    consent_exempt_reason = models.TextField(
        blank=True,
        help_text="Superusers only: why this campaign may call without consent records.",
    )
    consent_exempt_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
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
    machine_detection = models.BooleanField(
        default=False,
        help_text="Ask Twilio whether a person or an answering machine picked up.",
    )
    voicemail_text = models.TextField(
        blank=True,
        max_length=VOICEMAIL_MAX,
        help_text=(
            "Left on an answering machine after the beep, in the script's voice; empty: hang up "
            "on a machine."
        ),
    )
    machine_retry_hours = models.PositiveSmallIntegerField(
        default=MACHINE_RETRY_HOURS,
        blank=True,
        help_text=(
            "A call that reached a machine is tried again this many hours later while attempts "
            "remain (it counts as one); 0: never tried again; empty: a day."
        ),
    )
    window_start_hour = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(23)],
        help_text="Narrows the business's calling window; its start when empty.",
    )
    window_end_hour = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="Narrows the business's calling window; its end when empty.",
    )
    window_days = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_weekdays],
        help_text="Narrows the business's weekdays; the business's when none is chosen.",
    )
    offers_opt_out = models.BooleanField(
        default=False,
        help_text=(
            "Ends the script with the prompt below; a callee who presses 9 is put on the "
            "business's do-not-call list. Not added to raw TwiML."
        ),
    )
    opt_out_prompt = models.CharField(
        max_length=300,
        default=DEFAULT_OPT_OUT_PROMPT,
        blank=True,
        help_text="Read after the script; empty: the default.",
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
        if self.machine_retry_hours is None:
            self.machine_retry_hours = self.MACHINE_RETRY_HOURS
        if self.voicemail_text and not self.machine_detection:
            errors["voicemail_text"] = "A voicemail is left only with machine detection on."
        if len(self.voicemail_text) > self.VOICEMAIL_MAX:
            errors["voicemail_text"] = f"At most {self.VOICEMAIL_MAX} characters."
        elif len(voicemail_twiml(self)) > UPDATE_TWIML_MAX:
            # Escaping (& is &amp;) lengthens the text: Twilio would refuse the update.
            errors["voicemail_text"] = "Too long once written as TwiML: use fewer & < > \" '."
        errors.update(self._window_errors(business))
        if errors:
            raise ValidationError(errors)

    def _window_errors(self, business: Business | None) -> dict:
        errors = window_hour_errors(self.window_start_hour, self.window_end_hour)
        if errors or business is None:
            return errors
        wide = business.calling_window
        start = wide.start_hour if self.window_start_hour is None else self.window_start_hour
        end = wide.end_hour if self.window_end_hour is None else self.window_end_hour
        if start < wide.start_hour or end > wide.end_hour or not set(self.window_days) <= wide.days:
            return {
                "window_start_hour": "A campaign may only narrow its business's calling window "
                f"({wide.describe()})."
            }
        return window_hour_errors(start, end)

    @property
    def calling_window(self) -> CallingWindow:
        """The business's window, narrowed to the campaign's own hours and days."""
        return self.business.calling_window.narrowed(
            start_hour=self.window_start_hour,
            end_hour=self.window_end_hour,
            days=self.window_days,
        )

    @property
    def allows_retries(self) -> bool:
        return self.status in self.RETRYING_STATUSES

    @property
    def machine_retry_delay(self) -> timedelta | None:
        """How long after reaching a machine its request is tried again; None: never."""
        return timedelta(hours=self.machine_retry_hours) if self.machine_retry_hours else None
