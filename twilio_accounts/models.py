from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from config.encryption import EncryptedTextField

validate_account_sid = RegexValidator(
    r"^AC[0-9a-fA-F]{32}$", "An account SID is AC and 32 hexadecimal digits."
)


class TwilioAccount(models.Model):
    """A Twilio account (a subaccount of the main one, as a rule) that some businesses dial
    through: its own credentials, calls-per-second budget, live-call cap and signing token.
    A business with none dials through the settings' main account (TWILIO_ACCOUNT_SID)."""

    class Status(models.TextChoices):
        # Twilio's own account statuses (the Accounts API's `status`).
        ACTIVE = "active", "active"
        SUSPENDED = "suspended", "suspended"
        CLOSED = "closed", "closed"

    friendly_name = models.CharField(max_length=64, blank=True)
    account_sid = models.CharField(max_length=34, unique=True, validators=[validate_account_sid])
    auth_token = EncryptedTextField()
    # During a rotation of the account's token: webhooks signed with it are still accepted.
    previous_auth_token = EncryptedTextField(blank=True, default="")
    calls_per_second = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Creates Twilio accepts per second on this account (1 unless raised).",
    )
    max_concurrent_calls = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Live calls at most across the account's businesses; empty: no account cap.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    paused_reason = models.TextField(
        blank=True,
        help_text="Set when Twilio refuses the account (credentials, standing); no new dials "
        "through it until cleared.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["friendly_name", "account_sid"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(calls_per_second__gte=1), name="twilio_account_cps_positive"
            ),
        ]

    def __str__(self):
        return (
            f"{self.friendly_name} ({self.account_sid})" if self.friendly_name else self.account_sid
        )

    @property
    def can_dial(self) -> bool:
        return self.status == self.Status.ACTIVE and not self.paused_reason
