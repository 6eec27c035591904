"""Why a call is made: the calling rules, and later consent, depend on it."""

from django.db import models


class Purpose(models.TextChoices):
    TELEMARKETING = "telemarketing", "Telemarketing"
    INFORMATIONAL = "informational", "Informational (reminders, notices)"
    DEBT_COLLECTION = "debt_collection", "Debt collection"
