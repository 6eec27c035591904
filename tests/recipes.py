"""How tests build rows and Twilio's requests: calls, requests, callbacks, Twilio's records."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from twilio.request_validator import RequestValidator

from calls.models import CallLog, CallRequest, Lease, Membership, WorkerHeartbeat
from calls.services.cleanup import CLEANUP_LEASE
from calls.twilio_client import TwilioCall
from compliance.models import ConsentRecord

NUMBER = "+14155550123"
ACCOUNT_SID = "AC" + "0" * 32


def sid(n) -> str:
    """A well-formed call SID, distinct per `n` (an int or a hex character)."""
    return "CA" + (f"{n:032x}" if isinstance(n, int) else n * 32)


def make_call(business, *, direction="outbound", number=NUMBER, **fields) -> CallLog:
    """A call of `business` with `number` at the other end; `fields` set the rest."""
    if direction == CallLog.Direction.OUTBOUND:
        ends = {"from_number": business.phone_number, "to_number": number}
    else:
        ends = {"from_number": number, "to_number": business.phone_number}
    fields.setdefault("twilio_account_id", business.twilio_account_id)
    return CallLog.objects.create(business=business, direction=direction, **{**ends, **fields})


def age_call(call, seconds, *, stamped_seconds=None) -> CallLog:
    """Sets the call's creation and last update `seconds` ago, and its dial stamp
    `stamped_seconds` ago (None: never sent)."""
    now = timezone.now()
    stamp = None if stamped_seconds is None else now - timedelta(seconds=stamped_seconds)
    at = now - timedelta(seconds=seconds)
    CallLog.objects.filter(pk=call.pk).update(created_at=at, updated_at=at, dial_started_at=stamp)
    call.refresh_from_db()
    return call


def make_request(business, *, number=NUMBER, **fields) -> CallRequest:
    """A request of `business`, due now unless `fields` say otherwise."""
    fields.setdefault("next_attempt_at", timezone.now())
    return CallRequest.objects.create(business=business, to_number=number, **fields)


def callback(call_sid, status, sequence=None, **extra) -> dict:
    """The form parameters of a Twilio status callback."""
    params = {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "CallStatus": status}
    if sequence is not None:
        params["SequenceNumber"] = str(sequence)
    return {**params, **extra}


def sign(path: str, params: dict, token: str | None = None) -> str:
    """X-Twilio-Signature for a POST of `params` to `path`, as Twilio computes it with `token`
    (the main account's auth token unless given)."""
    return RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )


def twilio_call(call_sid, status="in-progress", *, created=None, **fields) -> TwilioCall:
    """A call as twilio_client reports it from Twilio's fetch or list."""
    return TwilioCall(
        sid=call_sid,
        status=status,
        to=fields.get("to", NUMBER),
        from_=fields.get("from_", "+14155550100"),
        date_created=created or timezone.now(),
        duration=fields.get("duration"),
        answered_by=fields.get("answered_by", ""),
        price=fields.get("price"),
        price_unit=fields.get("price_unit", ""),
    )


def make_member(*memberships, username="alice"):
    """A staff user holding each (business, role) given; no Django permission of any kind."""
    user = get_user_model().objects.create_user(username=username, password="pw", is_staff=True)
    for business, role in memberships:
        Membership.objects.create(user=user, business=business, role=role)
    return user


def make_heartbeat(*, ago=timedelta(0), cluster_id="c0ffee", stopped=False) -> WorkerHeartbeat:
    """A worker's check-in `ago` (stopped then, if `stopped`)."""
    at = timezone.now() - ago
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        cluster_id=cluster_id,
        defaults={"seen_at": at, "stopped_at": at if stopped else None},
        create_defaults={
            "host": "worker-1",
            "pid": 4242,
            "workers": 2,
            "broker": "ORM (default)",
            "started_at": at - timedelta(hours=1),
            "seen_at": at,
            "stopped_at": at if stopped else None,
        },
    )
    return beat


def aged(seconds: float, since) -> range:
    """The ages a scrape may report for something `seconds` old at `since`: the seconds gone by
    until now added (a loaded machine takes more than half a second to scrape, and CI's did)."""
    gone_by = (timezone.now() - since).total_seconds()
    return range(round(seconds), round(seconds + gone_by) + 1)


def make_cleanup_run(*, ago=timedelta(0)) -> Lease:
    """The cleanup's lease, as a run that succeeded `ago` leaves it."""
    at = timezone.now() - ago
    lease, _ = Lease.objects.update_or_create(
        name=CLEANUP_LEASE, defaults={"held_until": at, "last_succeeded_at": at}
    )
    return lease


def consent_on_file(business, number=NUMBER, *, kind="written", purposes=("telemarketing",)):
    """A consent of the person at `number` to the business's calls, captured a day ago."""
    return ConsentRecord.objects.create(
        business=business,
        phone_number=number,
        kind=kind,
        purposes=list(purposes),
        source=ConsentRecord.Source.WEB_FORM,
        captured_at=timezone.now() - timedelta(days=1),
        evidence_text="Ticked the box on the offer form.",
    )


def make_ended_calls(
    business,
    from_number: str,
    *,
    answered: int = 0,
    unanswered: int = 0,
    rejected: int = 0,
    duration: int = 30,
    ago=timedelta(hours=1),
) -> list[CallLog]:
    """Outbound calls from `from_number` that ended `ago`: `answered` completed ones lasting
    `duration` s, `unanswered` no-answers, `rejected` ones the carrier declined (busy, SIP 603)."""
    at = timezone.now() - ago
    kinds = (
        [("completed", duration, 200)] * answered
        + [("no-answer", 0, 487)] * unanswered
        + [("busy", 0, 603)] * rejected
    )
    first = CallLog.objects.count()
    calls = CallLog.objects.bulk_create(
        CallLog(
            business=business,
            direction=CallLog.Direction.OUTBOUND,
            from_number=from_number,
            to_number=f"+1212555{(first + n) % 10000:04d}",
            call_sid=f"CA{from_number[1:]}{first + n:020x}",
            status=status,
            duration_seconds=seconds,
            sip_response_code=sip,
            answered_at=at if status == "completed" else None,
            dial_started_at=at,
            ended_at=at,
        )
        for n, (status, seconds, sip) in enumerate(kinds)
    )
    CallLog.objects.filter(pk__in=[c.pk for c in calls]).update(created_at=at)
    return calls
