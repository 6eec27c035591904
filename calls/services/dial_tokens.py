"""Calls per second per Twilio account, across every worker and host: each account's
calls_per_second tokens in the database (the main account's: TWILIO_CALLS_PER_SECOND), shared
among the account's businesses that are waiting for one by their recent use: the one that took
the fewest tokens lately (a count that halves every USE_HALF_LIFE_SECONDS) takes the next.

A dispatch that would only wait behind another business's dispatch for the account's tokens
gives its worker back instead, and so does one about to claim beside another dispatch of its own
business that already waits (dial_turn_give_way): its business is parked, and the dispatches of
the account that wait or send queue one for it again (dial_turn_wake). So an account's waiting
holds one or two workers, not one per business, and the other accounts' dispatches get theirs."""

import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Now
from django.utils import timezone

from calls.models import DialToken, DialTurn
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from twilio_accounts.models import TwilioAccount

# A waiting business keeps its place this long after its last look; a dispatch that died stops
# holding the others back then.
TURN_LAPSE = timedelta(seconds=2)
# How often a business that is not first in line looks again.
TURN_POLL_SECONDS = 0.05
# A business's recent use of its account's tokens: each token counts 1, halving every this many
# seconds. Long enough that a business dialing all the while stays behind one that just arrived
# for the tens of seconds a small queue takes; short enough that a burst is forgotten in a minute.
USE_HALF_LIFE_SECONDS = 10.0
# A parked business is woken by a waiting one when its recent use is this much lower: each takes
# a few tokens in a row, so a hand-over (a dispatch queued, claims handed back and made again)
# is not paid for every token.
TURN_HANDOFF_USE = 2.0


class DialTurnParked(Exception):
    """The dispatch gave its worker back (dial_turn_give_way): its business is parked behind
    another business's dispatch waiting for the account's tokens, which queues one for it."""


def account_calls_per_second(*, account_id: int | None) -> int:
    if account_id is None:
        return settings.TWILIO_CALLS_PER_SECOND
    rate = TwilioAccount.objects.filter(pk=account_id).values_list("calls_per_second", flat=True)
    return rate.first() or 1


def dial_token_take(
    *,
    account_id: int | None = None,
    business_id: int | None = None,
    deadline: float | None = None,
    give_way: bool = False,
) -> int | None:
    """Blocks until this worker may send one create through the account (None: the main one)
    for the business; returns the token to release after it, or None when `deadline`
    (time.monotonic()) passes first. With `give_way`, raises DialTurnParked instead of waiting
    behind another business's dispatch (dial_turn_give_way).

    A token is held while its create is in flight and becomes free one second after the create
    returned, so creates on one token reach Twilio more than a second apart: at most the
    account's calls_per_second in any sliding one-second window, however many workers send and
    however slow the network. Times are the database's, one clock for all hosts.

    Fair share, weighted by recent use: of the account's businesses waiting for a token, the
    one with the least recent use takes the next (ties by business id). Recent use counts the
    business's tokens, each decayed by half every USE_HALF_LIFE_SECONDS, so it is by business,
    not by dispatch or by queued calls: a business that has been dialing 10,000 queued calls
    yields to one that just arrived with ten until their recent uses meet, then they alternate.
    Plain turns would give the newcomer only every other token beside the big one.
    """
    rate = account_calls_per_second(account_id=account_id)
    tokens = DialToken.objects.filter(account_id=account_id, slot__lte=rate)
    if tokens.count() < rate:
        _tokens_create(account_id, rate)
    # Held past the HTTP timeout at most, so a worker that dies holding a token loses nothing.
    hold = timedelta(seconds=settings.TWILIO_HTTP_TIMEOUT_SECONDS + 1)
    while True:
        if business_id is not None:
            _turn_mark(business_id, account_id=account_id, waiting_until=Now() + TURN_LAPSE)
        if business_id is None or _first_in_line(business_id, account_id):
            pk = tokens.filter(free_at__lte=Now()).order_by("free_at")
            pk = pk.values_list("pk", flat=True).first()
            # Compare-and-set: of two workers taking one token, one wins and the other retries.
            if pk and DialToken.objects.filter(pk=pk, free_at__lte=Now()).update(
                free_at=Now() + hold
            ):
                if business_id is not None:
                    _use_count(business_id)
                return pk
            # Lost the token to another worker: look again at once; none free: until one is.
            wait = 0 if pk else _until_next_free(tokens)
        elif give_way and dial_turn_give_way(business_id=business_id, account_id=account_id):
            raise DialTurnParked
        else:
            wait = TURN_POLL_SECONDS
        if deadline is not None and time.monotonic() >= deadline:
            if business_id is not None:
                DialTurn.objects.filter(business_id=business_id).update(waiting_until=None)
            return None
        if wait:
            time.sleep(wait)


def _until_next_free(tokens) -> float:
    next_free = tokens.order_by("free_at").values_list("free_at", flat=True).first()
    wait = (next_free - timezone.now()).total_seconds() if next_free else 0
    return min(max(wait, 0.01), 0.25)


def _turn_mark(business_id: int, **fields) -> None:
    """Sets fields of the business's DialTurn row, made if it has none yet."""
    if DialTurn.objects.filter(business_id=business_id).update(**fields):
        return
    try:
        with transaction.atomic():
            DialTurn.objects.create(business_id=business_id, **fields)
    except IntegrityError:  # another dispatch of the business made it first
        DialTurn.objects.filter(business_id=business_id).update(**fields)


def _line(business_id: int, account_id: int | None):
    """The business's recent use and whether a dispatch of it is waiting, and the account's other
    businesses that are waiting and that are parked as (recent use, business id, parked_at), all
    as of one moment. The waiters of one
    account are few: read and compared here, the same on every database."""
    live = Q(waiting_until__gt=Now())
    rows = (
        DialTurn.objects.filter(
            Q(business_id=business_id)
            | Q(live, account_id=account_id)
            | Q(account_id=account_id, parked_at__isnull=False)
        )
        .annotate(waiting=ExpressionWrapper(live, output_field=BooleanField()))
        .values_list("business_id", "use", "served_at", "waiting", "parked_at")
    )
    now = timezone.now()
    mine, mine_waiting, waiting, parked = 0.0, False, [], []
    for pk, use, served_at, is_waiting, parked_at in rows:
        use = recent_use(use, served_at, now)
        if pk == business_id:
            mine, mine_waiting = use, is_waiting
        elif is_waiting:
            waiting.append((use, pk))
        elif parked_at is not None:
            parked.append((use, pk, parked_at))
    return mine, mine_waiting, waiting, parked


def _first_in_line(business_id: int, account_id: int | None) -> bool:
    """Whether no other business waiting for this account's tokens has less recent use (equal
    uses go by business id). Wakes the parked businesses well below it on the way
    (TURN_HANDOFF_USE): the next look of theirs puts them ahead."""
    mine, _, waiting, parked = _line(business_id, account_id)
    _wake([(pk, at) for use, pk, at in parked if use + TURN_HANDOFF_USE < mine])
    return not [turn for turn in waiting if turn < (mine, business_id)]


def dial_turn_give_way(*, business_id: int, account_id: int | None, claiming: bool = False) -> bool:
    """Whether a dispatch of the business should give its worker back rather than wait for a
    token of the account: another business's dispatch is waiting ahead of it in line (or, about
    to claim (`claiming`), another dispatch of its own business is waiting), and no token is
    free for it after those ahead. Then the business is parked (True), and whichever dispatch
    of the account waits or sends queues a dispatch for it (dial_turn_wake).

    Parked, then the line read again: a waiter ends its wait (takes a token, its deadline, or
    parks) before it reads the parked (at its next look, or when its dispatch ends), and each
    side commits before it reads, so at least one sees the other and no business is left parked
    with no one to wake it. A waiter's worker that dies leaves it to the cleanup's dispatch
    nudge, or to the next dispatch of the account that ends."""
    if not _behind_a_waiter(business_id, account_id, claiming):
        return False
    parked_at = timezone.now()
    # About to claim, its business's waiting mark is another dispatch's: left as it is.
    leaves_line = {} if claiming else {"waiting_until": None}
    _turn_mark(business_id, account_id=account_id, parked_at=parked_at, **leaves_line)
    if _behind_a_waiter(business_id, account_id, claiming):
        return True
    # Not parked after all, unless a waiter woke it meanwhile: then a dispatch of it is queued.
    return not DialTurn.objects.filter(business_id=business_id, parked_at=parked_at).update(
        parked_at=None
    )


def _behind_a_waiter(business_id: int, account_id: int | None, claiming: bool) -> bool:
    mine, mine_waiting, waiting, _ = _line(business_id, account_id)
    ahead = [turn for turn in waiting if turn < (mine, business_id)]
    if claiming and mine_waiting:
        ahead.append((mine, business_id))
    if not ahead:
        return False
    rate = account_calls_per_second(account_id=account_id)
    free = DialToken.objects.filter(account_id=account_id, slot__lte=rate, free_at__lte=Now())
    return free.count() <= len(ahead)


def dial_turn_wake(*, account_id: int | None) -> None:
    """Queues a dispatch for each business parked behind the account's waiters; a dispatch that
    waited or sent for the account calls this as it ends (its own business among them: another
    dispatch of it may have parked it, about to claim while this one waited)."""
    parked = DialTurn.objects.filter(account_id=account_id, parked_at__isnull=False)
    _wake(parked.values_list("business_id", "parked_at"))


def _wake(parked) -> None:
    for business_id, parked_at in parked:
        # Compare-and-set: of two dispatches waking one business, one queues its dispatch.
        if DialTurn.objects.filter(business_id=business_id, parked_at=parked_at).update(
            parked_at=None
        ):
            task_queue_after_commit(dispatch, business_id)


def recent_use(use: float, served_at, now) -> float:
    """`use` (as of `served_at`, its last token) decayed to `now`."""
    if served_at is None:
        return 0.0
    elapsed = max((now - served_at).total_seconds(), 0.0)
    return use * 0.5 ** (elapsed / USE_HALF_LIFE_SECONDS)


def _use_count(business_id: int) -> None:
    """Counts one token in the business's recent use and ends its wait. Compare-and-set on the
    last token's moment: two dispatches of the business counting at once both count. The
    moments are this host's clock: a skew of milliseconds between hosts is nothing against
    the half-life."""
    while True:
        use, served_at = (
            DialTurn.objects.filter(business_id=business_id).values_list("use", "served_at").get()
        )
        now = timezone.now()
        if DialTurn.objects.filter(business_id=business_id, served_at=served_at).update(
            use=recent_use(use, served_at, now) + 1, served_at=now, waiting_until=None
        ):
            return


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
