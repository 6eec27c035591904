from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from calls.models.businesses import Business
from calls.phone import validate_e164
from compliance.regions import number_place


class CallerNumber(models.Model):
    """One of a business's Twilio numbers its outbound calls may show as caller ID.

    A business with no active or quarantined number dials from `Business.phone_number` as
    before; that number also stays the one its inbound calls find it by. Each create takes one
    number of the pool (calls.services.caller_numbers), counted per day on the row itself.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        QUARANTINED = "quarantined"  # resting: its calls were going unanswered or rejected
        RETIRED = "retired"  # never used again (released at Twilio, or taken out by a manager)

    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="caller_numbers")
    number = models.CharField(max_length=16, unique=True, validators=[validate_e164])
    status = models.CharField(max_length=16, choices=Status, default=Status.ACTIVE)
    daily_cap = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(1)],
        help_text="Calls placed from this number per day (the business's local day) at most.",
    )
    # The state or province the number belongs to (compliance.regions, e.g. "US-CA"): the pool
    # prefers a number of the callee's own region. Set from the number on save.
    region = models.CharField(max_length=8, blank=True, editable=False)
    # Twilio's IncomingPhoneNumber SID, when the number came from twilio_numbers_sync.
    twilio_sid = models.CharField(max_length=64, blank=True, editable=False)
    # Calls placed from it on `counted_day` (the business's local date): one counter, moved by a
    # conditional UPDATE, so racing workers never place more than `daily_cap` in a day.
    counted_day = models.DateField(null=True, blank=True, editable=False)
    calls_on_day = models.PositiveIntegerField(default=0, editable=False)
    quarantine_reason = models.TextField(blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    # Health is judged from calls placed after this (a restore starts a fresh record).
    health_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["business", "number"]
        indexes = [
            # Placing: a business's active numbers of the callee's region, then all (the choice);
            # the health run and the pool's holds: its non-retired ones.
            models.Index(
                fields=["business", "status", "region"],
                condition=~Q(status="retired"),
                name="callernumber_pool_idx",
            ),
        ]

    def __str__(self):
        return self.number

    def save(self, *args, **kwargs):
        self.region = number_place(self.number).region or ""
        if self.status == self.Status.QUARANTINED and self.quarantined_at is None:
            self.quarantined_at = timezone.now()  # its return is counted from it
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "region", "quarantined_at"}
        super().save(*args, **kwargs)
