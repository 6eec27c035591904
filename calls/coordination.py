"""Rows that coordinate workers on every host: the cleanup's lease and the calls-per-second
tokens. Registered with the app through calls.models, where callers import them from."""

from django.db import models


class Lease(models.Model):
    """A named lease taken by a conditional UPDATE, so scheduled runs never overlap."""

    name = models.CharField(max_length=64, primary_key=True)
    held_until = models.DateTimeField()
    holder = models.CharField(max_length=64, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name


class DialToken(models.Model):
    """One of an account's calls-per-second tokens (`slot` 1 to its calls_per_second; the main
    account's when `account` is None, TWILIO_CALLS_PER_SECOND of them): a create through that
    account may be sent on it from `free_at` on."""

    account = models.ForeignKey(
        "twilio_accounts.TwilioAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="dial_tokens",
    )
    slot = models.PositiveIntegerField()
    free_at = models.DateTimeField()

    class Meta:
        constraints = [
            # One row per token, however many workers create an account's tokens at once.
            models.UniqueConstraint(
                fields=["account", "slot"],
                condition=models.Q(account__isnull=False),
                name="one_dial_token_per_account_slot",
            ),
            models.UniqueConstraint(
                fields=["slot"],
                condition=models.Q(account__isnull=True),
                name="one_dial_token_per_main_slot",
            ),
        ]

    def __str__(self):
        return f"token {self.slot} of {self.account or 'the main account'}"


class DialTurn(models.Model):
    """A business's place in line for its account's calls-per-second tokens: of the businesses
    waiting for a token of one account, the one with the least recent use takes the next
    (calls/services/dial_tokens.py), however many dispatches each has waiting."""

    business = models.OneToOneField(
        "calls.Business", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        "twilio_accounts.TwilioAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # When it last took a token; None: never (no recent use).
    served_at = models.DateTimeField(null=True, blank=True)
    # Its recent use as of served_at: tokens taken, each halving every USE_HALF_LIFE_SECONDS.
    use = models.FloatField(default=0.0)
    # Set, and pushed forward, while a dispatch of the business waits for a token: a waiter that
    # died stops holding its place when this passes.
    waiting_until = models.DateTimeField(null=True, blank=True)
    # Set when a dispatch of the business gave its worker back to another business's waiting for
    # the account's tokens (dial_turn_give_way); cleared by whichever dispatch queues it again.
    parked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # dial_token_take: who else is waiting for this account's tokens.
            models.Index(fields=["account", "waiting_until"], name="dialturn_waiting_idx"),
        ]

    def __str__(self):
        return f"turn of business {self.business_id}"


class EndedCallTally(models.Model):
    """How many calls have ended with one status, counted forward from `counted_until` by
    /metrics at each scrape: a total that only grows (a Prometheus counter), read without
    counting the whole history, and untouched when retention deletes old calls."""

    status = models.CharField(max_length=16, unique=True)
    ended = models.BigIntegerField(default=0)
    counted_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.status}: {self.ended}"


class WorkerHeartbeat(models.Model):
    """A worker (`manage.py qcluster`, calls/cluster.py) checking in every few seconds while it
    runs: /healthz, the console and /metrics read from these rows whether one has lately."""

    cluster_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    workers = models.PositiveSmallIntegerField()
    broker = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    # Set when the worker stopped as asked; a worker that died or froze just stops checking in.
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # /healthz, the console and /metrics: the latest check-in.
            models.Index(fields=["seen_at"], name="heartbeat_seen_idx"),
        ]

    def __str__(self):
        return f"{self.host} pid {self.pid} ({self.cluster_id})"
