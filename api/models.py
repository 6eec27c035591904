from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A business's key to the HTTP API. Only a hash of the secret is stored: the key is shown
    once, when it is made; `prefix` (the key's first characters) names it in lists and logs."""

    business = models.ForeignKey(
        "calls.Business", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True, help_text="What uses it, e.g. the CRM.")
    prefix = models.CharField(max_length=16, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The throttle's fixed window (minutes since the epoch) and the requests counted in it; kept
    # on the row so every web process counts against the same figure.
    throttle_window = models.BigIntegerField(default=0, editable=False)
    throttle_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name or 'API key'} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotencyRecord(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key`: a retry with the same key (and
    the same body) gets it again instead of acting twice. Kept API_IDEMPOTENCY_HOURS, then
    deleted by the cleanup's retention step."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency")
    key = models.CharField(max_length=255)
    # sha256 of the method, path and canonical body: the same key with another body is refused.
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One first answer per key: of two racing retries only one commits its work.
            models.UniqueConstraint(
                fields=["api_key", "key"], name="one_answer_per_idempotency_key"
            ),
        ]
        indexes = [
            # The cleanup's retention step: records past API_IDEMPOTENCY_HOURS, oldest first.
            models.Index(fields=["created_at"], name="idempotency_created_idx"),
        ]

    def __str__(self):
        return self.key
