"""What people did: every operator action (who, when, what, on which rows) and every erasure of
a number. Rows here are written once and never edited."""

from django.conf import settings
from django.db import models


class OperatorAction(models.Model):
    """One action an operator ran on rows of one business (an action over several businesses is
    recorded once per business, so each business's log holds only its own rows)."""

    business = models.ForeignKey(
        "calls.Business", on_delete=models.PROTECT, related_name="operator_actions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operator_actions",
    )
    # Kept as written, so the log still names someone whose account was removed.
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    target = models.CharField(max_length=64, help_text="The kind of rows, e.g. calls.calllog.")
    rows = models.PositiveIntegerField(help_text="How many rows were selected.")
    summary = models.TextField(help_text="What the action said it changed.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The action log of one business, newest first.
            models.Index(fields=["business", "-created_at"], name="action_business_idx"),
        ]

    def __str__(self):
        return f"{self.username}: {self.description}"


class OperatorActionRow(models.Model):
    """One row an action was run on; the page of that row lists its actions."""

    action = models.ForeignKey(OperatorAction, on_delete=models.CASCADE, related_name="targets")
    # No foreign key: the log outlives rows that retention or erasure removes.
    object_id = models.BigIntegerField()

    class Meta:
        indexes = [
            # A row's page: the actions run on it.
            models.Index(fields=["object_id"], name="action_row_object_idx"),
        ]

    def __str__(self):
        return f"{self.action.target} {self.object_id}"


class NumberErasure(models.Model):
    """That a person's number was erased from a business's rows, without the number itself: a
    keyed hash lets the erasure be found again by whoever has the number and the key."""

    business = models.ForeignKey(
        "calls.Business", on_delete=models.PROTECT, related_name="erasures"
    )
    number_hash = models.CharField(max_length=64, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_name = models.CharField(max_length=150, blank=True)
    via = models.CharField(max_length=16, help_text="admin or command")
    leads = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"erasure {self.number_hash[:12]}… ({self.created_at:%Y-%m-%d})"
