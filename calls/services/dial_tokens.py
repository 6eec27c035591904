"""Calls per second across every worker: TWILIO_CALLS_PER_SECOND tokens in the database."""

import time
from datetime import timedelta

from django.conf import settings
from django.db.models.functions import Now
from django.utils import timezone

from calls.models import DialToken


def dial_token_take(*, deadline: float | None = None) -> int | None:
    """Blocks until this worker may send one create; returns the token to release after it, or
    None when `deadline` (time.monotonic()) passes first.

    A token is held while its create is in flight and becomes free one second after the create
    returned, so creates on one token reach Twilio more than a second apart: at most
    TWILIO_CALLS_PER_SECOND in any one-second window, however many workers send and however slow
    the network. Times are the database's, one clock for all hosts.
    """
    rate = settings.TWILIO_CALLS_PER_SECOND
    if DialToken.objects.filter(pk__lte=rate).count() < rate:
        for pk in range(1, rate + 1):
            DialToken.objects.get_or_create(pk=pk, defaults={"free_at": timezone.now()})
    # Held past the HTTP timeout at most, so a worker that dies holding a token loses nothing.
    hold = timedelta(seconds=settings.TWILIO_HTTP_TIMEOUT_SECONDS + 1)
    while True:
        free = DialToken.objects.filter(pk__lte=rate, free_at__lte=Now())
        pk = free.order_by("free_at").values_list("pk", flat=True).first()
        # Compare-and-set: of two workers taking the same token, one wins and the other retries.
        if pk and DialToken.objects.filter(pk=pk, free_at__lte=Now()).update(free_at=Now() + hold):
            return pk
        if deadline is not None and time.monotonic() >= deadline:
            return None
        if pk is None:
            next_free = DialToken.objects.filter(pk__lte=rate).order_by("free_at").first()
            wait = (next_free.free_at - timezone.now()).total_seconds()
            time.sleep(min(max(wait, 0.01), 0.25))


def dial_token_release(*, token: int, sent: bool) -> None:
    DialToken.objects.filter(pk=token).update(
        free_at=Now() + timedelta(seconds=1) if sent else Now()
    )
