"""The compliance app's models: the do-not-call lists (moved from `calls`, their table kept;
`calls.models` still exports DoNotCall for the code that imports it from there)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from calls.phone import validate_e164

REASON_MAX = 500


class DoNotCall(models.Model):
    """A number that must not be called: by one business, or (no business) by any.

    Kept when the number is erased from a business's calls (calls/services/erasure.py): the
    opt-out is the one thing the law requires the service to remember about the person.
    """

    business = models.ForeignKey(
        "calls.Business",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="do_not_call",
        help_text="Empty: no business may call the number (superusers only).",
    )
    phone_number = models.CharField(
        max_length=16, validators=[validate_e164], help_text="E.164, e.g. +14155550123."
    )
    reason = models.CharField(max_length=REASON_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The call in which the callee pressed the opt-out key; NULL once retention deletes it.
    source_call = models.ForeignKey(
        "calls.CallLog", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "calls_donotcall"  # where it was made, in the calls app
        verbose_name = "do-not-call number"
        constraints = [
            # Enqueue and dispatch: is one of these numbers listed by this business.
            models.UniqueConstraint(
                fields=["business", "phone_number"],
                condition=Q(business__isnull=False),
                name="do_not_call_one_per_business_number",
                violation_error_message="This number is already on the business's list.",
            ),
            # Enqueue and dispatch: is one of these numbers listed for every business.
            models.UniqueConstraint(
                fields=["phone_number"],
                condition=Q(business__isnull=True),
                name="do_not_call_one_global_per_number",
                violation_error_message="This number is already on the list of every business.",
            ),
        ]

    def __str__(self):
        return self.phone_number
