"""A business's caller numbers as a pool: which number each call shows, counted per day.

At each create, placing takes one number (`caller_number_take`): an active number of the
business under its daily cap, never one sharing the callee's area code and exchange (NPA-NXX:
Twilio calls matching them "neighbor spoofing"), preferring one of the callee's own state or
province (compliance.regions), then the one least used today. Taking it counts it with one
conditional UPDATE on its row, so racing workers never place more than its cap in a day. A
business with no pool (no number active or quarantined) dials from `Business.phone_number`.

When no number of the pool may place a call, the request is held with the reason until one may
(the next day's count, or a quarantined number's return): at the claim for all of a page at once
(`requests_hold_for_pool`), at the create for the one call. A request held so is let go at once
when a number becomes usable again (`pool_holds_release`: a restore, a raised cap, a new number).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Min, Q, Value, When
from django.utils import timezone

from calls import twilio_client
from calls.models import Business, CallerNumber, CallRequest
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import dispatch
from compliance.regions import number_place
from twilio_accounts.credentials import account_credentials

Status = CallerNumber.Status

# Starts the `held_reason` of a request the pool holds (so that a usable number lets it go).
POOL_HOLD_PREFIX = "Caller numbers:"


@dataclass(frozen=True)
class PoolHold:
    """Why no number of the pool may place a call now, and when one may (None: never, with
    the pool as it is: the request is canceled with the reason)."""

    opening: datetime | None
    reason: str


def business_day(business: Business, now: datetime | None = None) -> tuple[date, datetime]:
    """The business's local date (caps count per local day) and when the next one starts."""
    zone = ZoneInfo(business.time_zone)
    local = (now or timezone.now()).astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return local.date(), midnight


def neighbor_prefix(number: str) -> str:
    """The callee's country code, area code and exchange (+1 NPA NXX) for a NANP number."""
    return number[:8] if number.startswith("+1") and len(number) == 12 else ""


def _used_today(today: date):
    used = When(counted_day=today, then=F("calls_on_day"))
    return Case(used, default=Value(0), output_field=IntegerField())


def caller_number_candidates(
    *, business: Business, to_number: str, today: date, region: str | None = None
):
    """The business's numbers that may place a call to `to_number` today, least used first;
    with `region`, only that region's."""
    candidates = CallerNumber.objects.filter(business=business, status=Status.ACTIVE)
    if region is not None:
        candidates = candidates.filter(region=region)
    candidates = candidates.annotate(used=_used_today(today)).filter(used__lt=F("daily_cap"))
    prefix = neighbor_prefix(to_number)
    if prefix:
        candidates = candidates.exclude(number__startswith=prefix)
    return candidates.order_by("used", "pk")


def caller_number_take(*, business: Business, to_number: str, now: datetime | None = None):
    """The number a call to `to_number` shows, counted against today's cap; the business's own
    number when it has no pool; a PoolHold when no number of its pool may place it now."""
    today, _ = business_day(business, now)
    # The callee's own state or province first (a read of its few numbers, by the pool's
    # index), then the whole pool.
    home = number_place(to_number).region
    for region in ([home] if home else []) + [None]:
        while True:
            # A candidate whose count fails reached its cap meanwhile (a racing worker): caps
            # only fill within a day, so this ends.
            candidates = list(
                caller_number_candidates(
                    business=business, to_number=to_number, today=today, region=region
                ).values_list("pk", "number")[:3]
            )
            if not candidates:
                break
            for pk, number in candidates:
                if _count(pk, today):
                    return number
    return pool_hold(business=business, to_number=to_number, now=now) or business.phone_number


def _count(pk: int, today: date) -> bool:
    """One more call today on the number, if it is still active and under its cap: one
    conditional UPDATE (its row lock held to the end of the caller's transaction)."""
    under_cap = (
        Q(counted_day__isnull=True) | ~Q(counted_day=today) | Q(calls_on_day__lt=F("daily_cap"))
    )
    return bool(
        CallerNumber.objects.filter(under_cap, pk=pk, status=Status.ACTIVE).update(
            calls_on_day=Case(
                When(counted_day=today, then=F("calls_on_day") + 1),
                default=Value(1),
                output_field=IntegerField(),
            ),
            counted_day=today,
        )
    )


def caller_number_uncount(*, business: Business, number: str, at: datetime) -> None:
    """Gives back the count of a create Twilio refused (no call was placed from the number)."""
    day, _ = business_day(business, at)
    CallerNumber.objects.filter(
        business=business, number=number, counted_day=day, calls_on_day__gt=0
    ).update(calls_on_day=F("calls_on_day") - 1)


def pool_hold(
    *, business: Business, to_number: str = "", now: datetime | None = None
) -> PoolHold | None:
    """Why no number of the business's pool may call `to_number` (any callee, without one) now,
    and until when; None when one may, or when it has no pool (its own number calls)."""
    now = now or timezone.now()
    today, reset = business_day(business, now)
    pool = CallerNumber.objects.filter(business=business).exclude(status=Status.RETIRED)
    if not pool.exists():
        return None
    prefix = neighbor_prefix(to_number)
    if prefix:
        pool = pool.exclude(number__startswith=prefix)
    if prefix and not pool.exists():
        return PoolHold(
            None,
            f"{POOL_HOLD_PREFIX} every number of the pool shares the callee's area code and "
            "exchange, and a caller ID matching them is neighbor spoofing; add a number from "
            "elsewhere, then retry.",
        )
    active = pool.filter(status=Status.ACTIVE).annotate(used=_used_today(today))
    if active.filter(used__lt=F("daily_cap")).exists():
        return None
    returns = pool.filter(status=Status.QUARANTINED).aggregate(first=Min("quarantined_at"))
    cooling = timedelta(hours=settings.NUMBER_QUARANTINE_HOURS)
    back = returns["first"] + cooling if returns["first"] else None
    if active.exists() and (back is None or reset <= back):
        local = reset.strftime("%Y-%m-%d %H:%M")
        return PoolHold(
            reset,
            f"{POOL_HOLD_PREFIX} every number has placed its daily cap; the count starts again "
            f"at {local} {business.time_zone}.",
        )
    back = max(back or now, now)
    return PoolHold(
        back,
        f"{POOL_HOLD_PREFIX} every number is quarantined or at its daily cap; the first "
        f"returns at {back:%Y-%m-%d %H:%M} UTC.",
    )


def requests_hold_for_pool(business: Business, requests: list[CallRequest]) -> list[CallRequest]:
    """`requests` when the pool has a number to call from; else none, each held (uncounted)
    until one has, with the reason, in one UPDATE. Runs under the business lock (the claim)."""
    if not requests:
        return requests
    hold = pool_hold(business=business)
    if hold is None:
        return requests
    CallRequest.objects.filter(
        pk__in=[r.pk for r in requests], status=CallRequest.Status.QUEUED
    ).update(
        next_attempt_at=hold.opening,
        held_reason=hold.reason,
        held_rule="",
        updated_at=timezone.now(),
    )
    return []


def pool_holds_release(*, business_id: int) -> int:
    """Lets go at once the business's requests the pool held (a number became usable again),
    and nudges its dispatch; returns how many."""
    now = timezone.now()
    released = CallRequest.objects.filter(
        business_id=business_id,
        status=CallRequest.Status.QUEUED,
        held_reason__startswith=POOL_HOLD_PREFIX,
        next_attempt_at__gt=now,
    ).update(next_attempt_at=now, held_reason="", updated_at=now)
    if released:
        task_queue_after_commit(dispatch, business_id)
    return released


@dataclass
class SyncResult:
    added: list[str]
    kept: list[str]
    retired: list[str]
    skipped: list[str]  # voice-less, or another business's

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.kept)} already in the pool, "
            f"{len(self.retired)} retired (gone from Twilio), {len(self.skipped)} skipped."
        )


def caller_numbers_sync(*, business_id: int) -> SyncResult:
    """Makes the business's pool follow its Twilio account's IncomingPhoneNumbers: a voice
    number not yet in any pool joins it active; a synced number no longer at Twilio is retired.
    A number that is another business's (in its pool, or its own number) is left to it.
    Raises twilio_client.TwilioError when Twilio cannot be asked."""
    business = Business.objects.select_related("twilio_account").get(pk=business_id)
    listed = twilio_client.incoming_numbers_list(
        account=account_credentials(business.twilio_account)
    )
    result = SyncResult([], [], [], [])
    others = set(
        Business.objects.exclude(pk=business_id).values_list("phone_number", flat=True)
    ) | set(CallerNumber.objects.exclude(business_id=business_id).values_list("number", flat=True))
    mine = {n.number: n for n in CallerNumber.objects.filter(business_id=business_id)}
    with transaction.atomic():
        for each in listed:
            if not each.voice or each.phone_number in others:
                result.skipped.append(each.phone_number)
            elif each.phone_number in mine:
                CallerNumber.objects.filter(pk=mine[each.phone_number].pk).update(
                    twilio_sid=each.sid
                )
                result.kept.append(each.phone_number)
            else:
                CallerNumber.objects.create(
                    business_id=business_id, number=each.phone_number, twilio_sid=each.sid
                )
                result.added.append(each.phone_number)
        gone = [
            n
            for n in mine.values()
            if n.twilio_sid
            and n.status != Status.RETIRED
            and n.number not in {each.phone_number for each in listed}
        ]
        CallerNumber.objects.filter(pk__in=[n.pk for n in gone]).update(
            status=Status.RETIRED,
            quarantine_reason="",
            updated_at=timezone.now(),
        )
        result.retired = [n.number for n in gone]
        if result.added:
            pool_holds_release(business_id=business_id)
    return result
