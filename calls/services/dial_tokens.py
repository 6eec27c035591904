"""Calls per second per Twilio account, across every worker and host: each account's
calls_per_second tokens in the database (the main account's: TWILIO_CALLS_PER_SECOND)."""

import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from calls.models import DialToken
from twilio_accounts.models import TwilioAccount


def account_calls_per_second(*, account_id: int | None) -> int:
    if account_id is None:
        return settings.TWILIO_CALLS_PER_SECOND
    rate = TwilioAccount.objects.filter(pk=account_id).values_list("calls_per_second", flat=True)
    return rate.first() or 1


def dial_token_take(*, account_id: int | None = None, deadline: float | None = None) -> int | None:
    """Blocks until this worker may send one create through the account (None: the main one);
    returns the token to release after it, or None when `deadline` (time.monotonic()) passes
    first.

    A token is held while its create is in flight and becomes free one second after the create
    returned, so creates on one token reach Twilio more than a second apart: at most the
    account's calls_per_second in any sliding one-second window, however many workers send and
    however slow the network. Times are the database's, one clock for all hosts.
    """
    rate = account_calls_per_second(account_id=account_id)
    tokens = DialToken.objects.filter(account_id=account_id, slot__lte=rate)
    if tokens.count() < rate:
        _tokens_create(account_id, rate)
    # Held past the HTTP timeout at most, so a worker that dies holding a token loses nothing.
    hold = timedelta(seconds=settings.TWILIO_HTTP_TIMEOUT_SECONDS + 1)
    while True:
        pk = tokens.filter(free_at__lte=Now()).order_by("free_at").values_list("pk", flat=True)
        pk = pk.first()
        # Compare-and-set: of two workers taking the same token, one wins and the other retries.
        if pk and DialToken.objects.filter(pk=pk, free_at__lte=Now()).update(free_at=Now() + hold):
            return pk
        if deadline is not None and time.monotonic() >= deadline:
            return None
        if pk is None:
            next_free = tokens.order_by("free_at").values_list("free_at", flat=True).first()
            wait = (next_free - timezone.now()).total_seconds() if next_free else 0
            time.sleep(min(max(wait, 0.01), 0.25))


def _tokens_create(account_id: int | None, rate: int) -> None:
    for slot in range(1, rate + 1):
        try:
            with transaction.atomic():
                DialToken.objects.get_or_create(
                    account_id=account_id, slot=slot, defaults={"free_at": timezone.now()}
                )
        except IntegrityError:
            pass  # another worker made it first (a partial unique constraint)


def dial_token_release(*, token: int, sent: bool) -> None:
    DialToken.objects.filter(pk=token).update(
        free_at=Now() + timedelta(seconds=1) if sent else Now()
    )
