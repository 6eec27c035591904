from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from calls.phone import validate_e164
from calls.preferences import validate_time_zone
from calls.scripts import validate_guarded_verbs
from compliance.purposes import Purpose
from compliance.windows import CallingWindow, every_day
from config.encryption import EncryptedTextField
from webhooks.signing import webhook_secret_generate
from webhooks.targets import validate_webhook_url

# Attempts per request at most, wherever they are set (a business's default, the API, "retry
# now"): with the backoff doubling per attempt, a bound keeps every retry time a real date.
MAX_ATTEMPTS_LIMIT = 20
max_attempts_validators = [MinValueValidator(1), MaxValueValidator(MAX_ATTEMPTS_LIMIT)]


def validate_weekdays(days) -> None:
    if not isinstance(days, list) or any(day not in every_day() for day in days):
        raise ValidationError("Weekdays are numbers from 1 (Monday) to 7 (Sunday).")


def window_hour_errors(start: int | None, end: int | None) -> dict:
    if start is not None and end is not None and start >= end:
        return {"window_end_hour": "The calling window must end after it starts."}
    return {}


class Business(models.Model):
    """A tenant: its number is the caller ID of its outbound calls and receives its inbound ones."""

    name = models.CharField(max_length=200)
    phone_number = models.CharField(max_length=16, unique=True, validators=[validate_e164])
    max_concurrent_calls = models.PositiveSmallIntegerField(default=3)
    max_attempts = models.PositiveSmallIntegerField(
        default=3,
        validators=max_attempts_validators,
        help_text=f"Attempts per call request before it is given up (1-{MAX_ATTEMPTS_LIMIT}).",
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
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Judges the calling window of a number whose own time zone is unknown.",
    )
    window_start_hour = models.PositiveSmallIntegerField(
        default=8,
        validators=[MaxValueValidator(23)],
        help_text="Calls start at this hour in the callee's local time (0-23).",
    )
    window_end_hour = models.PositiveSmallIntegerField(
        default=21,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="No call starts at or after this hour in the callee's local time (1-24).",
    )
    window_days = models.JSONField(
        default=every_day,
        validators=[validate_weekdays],
        help_text="The weekdays calls are placed on, in the callee's local time.",
    )
    default_purpose = models.CharField(
        max_length=16,
        choices=Purpose,
        default=Purpose.INFORMATIONAL,
        help_text="The purpose of a call queued without a campaign (the API's single calls).",
    )
    requires_consent_records = models.BooleanField(
        default=False,
        help_text="Informational and debt-collection calls need an express or written consent "
        "on file (telemarketing always needs a written one).",
    )
    inbound_opt_out_menu = models.BooleanField(
        default=False,
        help_text=(
            'Answer calls to the business\'s number with "to stop our calls, press 9": the '
            "caller's number goes on the do-not-call list and its consents are revoked."
        ),
    )
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        validators=[validate_webhook_url],
        help_text="Where the outcome of each settled call request is POSTed (https), signed "
        "with the webhook secret. Empty: no webhooks.",
    )
    # Standard Webhooks' `whsec_<base64>`: generated when a URL is first set, rotated by a
    # manager's admin action; encrypted at rest (config/encryption.py), read in clear to sign.
    webhook_secret = EncryptedTextField(blank=True, editable=False)
    twilio_account = models.ForeignKey(
        "twilio_accounts.TwilioAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="businesses",
        help_text="The Twilio account (a subaccount) its calls go through; empty: the main "
        "account of the settings (TWILIO_ACCOUNT_SID).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["name"]
        constraints = [
            # A request takes its business's attempts: bounded as a request's are.
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1, max_attempts__lte=MAX_ATTEMPTS_LIMIT),
                name="business_max_attempts_bounded",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.phone_number})"

    def save(self, *args, **kwargs):
        if self.webhook_url and not self.webhook_secret:
            self.webhook_secret = webhook_secret_generate()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "webhook_secret"}
        super().save(*args, **kwargs)

    def clean(self):
        errors = window_hour_errors(self.window_start_hour, self.window_end_hour)
        if not self.window_days:
            errors["window_days"] = "Choose at least one day."
        if errors:
            raise ValidationError(errors)

    @property
    def can_dial(self) -> bool:
        return (
            self.is_active
            and not self.paused_reason
            and (self.twilio_account_id is None or self.twilio_account.can_dial)
        )

    @property
    def calling_window(self) -> CallingWindow:
        return CallingWindow(
            self.window_start_hour, self.window_end_hour, frozenset(self.window_days)
        )

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
