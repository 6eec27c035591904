from django.db import models

from calls.phone import validate_e164
from compliance.rules import validate_region


class Lead(models.Model):
    class Status(models.TextChoices):
        NEW = "new"
        CONTACTED = "contacted"
        QUALIFIED = "qualified"
        LOST = "lost"

    class Source(models.TextChoices):
        INBOUND_CALL = "inbound_call", "Inbound call"
        OUTBOUND_CALL = "outbound_call", "Outbound call"
        IMPORT = "import"
        MANUAL = "manual"

    business = models.ForeignKey("calls.Business", on_delete=models.PROTECT, related_name="leads")
    phone_number = models.CharField(max_length=16, validators=[validate_e164])
    name = models.CharField(max_length=200, blank=True)
    region = models.CharField(
        max_length=6,
        blank=True,
        validators=[validate_region],
        help_text="Where the person lives, as an ISO 3166-2 code (US-FL): its calling rules "
        "apply besides those of the number's region.",
    )
    status = models.CharField(max_length=16, choices=Status, default=Status.NEW)
    source = models.CharField(max_length=16, choices=Source, default=Source.MANUAL)
    last_call_at = models.DateTimeField(null=True, blank=True)
    last_call_direction = models.CharField(max_length=8, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # get_or_create by (business, number) from racing lead tasks relies on it.
            models.UniqueConstraint(
                fields=["business", "phone_number"], name="lead_number_per_business"
            ),
        ]

    def __str__(self):
        return self.name or self.phone_number
