"""What a report says about a call besides its status: when it was answered and by whom, how long
it lasted, its SIP response code, why it failed.

A report that moves the status sets the facts it carries (it is the latest word). Twilio does not
order its callbacks, so a report can also arrive too late to move the status (`in-progress` after
`completed`): it still fills the facts that are missing, and never replaces one already set,
since whatever set it came later in the call's life or was the service's own conclusion.
The one exception is an error: Twilio's ErrorCode replaces a reason the service derived from the
SIP code, because Twilio's code says more.
"""

from datetime import datetime, timedelta

from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce, Least

from calls.models import CallLog

Status = CallLog.Status

# Why a call ended unanswered, by the SIP response code of its last leg (RFC 3261 §21), for a
# failed, busy or no-answer call whose callback carries no ErrorCode.
SIP_REASONS = {
    400: "The carrier could not read the call request",
    403: "The carrier refused the call",
    404: "The number is not in service",
    408: "The carrier did not answer in time",
    410: "The number is no longer in service",
    480: "The callee is unavailable",
    484: "The number is incomplete",
    486: "The line was busy",
    487: "The call was stopped before it was answered",
    488: "The callee's phone could not take the call",
    500: "The carrier failed to connect the call",
    502: "The carrier failed to connect the call",
    503: "The carrier was unavailable",
    600: "The line was busy everywhere",
    603: "The callee declined the call",
    604: "The number does not exist anywhere",
}
UNANSWERED = (Status.FAILED, Status.BUSY, Status.NO_ANSWER)


def sip_reason(*, status: str, code: int | None) -> str:
    """A human reason for an unanswered call from its SIP code; '' when there is nothing to add."""
    if status not in UNANSWERED or not code or code < 300:
        return ""
    if status == Status.NO_ANSWER and code == 487:
        reason = "Nobody answered before the ring timeout"
    elif code in SIP_REASONS:
        reason = SIP_REASONS[code]
    elif code >= 600:
        reason = "The callee declined the call"
    elif code >= 500:
        reason = "The carrier failed to connect the call"
    else:
        reason = "The carrier refused the call"
    return f"{reason} (SIP {code})."


def _answered_at(report, now: datetime):
    """When the call was answered, if the report proves it was: `in-progress` at the report's
    time (never after the call ended, for a late one), `completed` from its duration."""
    if report.status == Status.IN_PROGRESS:
        return Least(Value(now), Coalesce(F("ended_at"), Value(now)))
    if report.status == Status.COMPLETED:
        return Value(now - timedelta(seconds=report.duration_seconds or 0))
    return None


def facts_moving(report, now: datetime) -> dict:
    """The changes a report that moves the status makes besides the status itself."""
    changes = {}
    if report.duration_seconds is not None:
        changes["duration_seconds"] = report.duration_seconds
    if report.answered_by:
        changes["answered_by"] = report.answered_by
    if report.sip_response_code is not None:
        changes["sip_response_code"] = report.sip_response_code
    answered_at = _answered_at(report, now)
    if answered_at is not None:
        changes["answered_at"] = Coalesce(F("answered_at"), answered_at)
    if report.error_code or report.error_message:
        # Otherwise what the create request said (e.g. a 500 for a call that was placed) stays.
        changes.update(error_code=report.error_code, error_message=report.error_message)
    else:
        reason = sip_reason(status=report.status, code=report.sip_response_code)
        if reason:
            changes["error_message"] = _if_blank("error_message", reason)
    return changes


def facts_fill(*, call_id: int, report, now: datetime) -> int:
    """Fills the facts the call is missing from a report that could not move its status.

    One conditional UPDATE whose SET expressions read the row as it is when written, so two late
    reports racing, or a late one racing the status move, never replace a fact already set.
    """
    changes, missing = {}, Q()
    if report.duration_seconds is not None:
        duration = Value(report.duration_seconds)
        changes["duration_seconds"] = Coalesce(F("duration_seconds"), duration)
        missing |= Q(duration_seconds__isnull=True)
    if report.answered_by:
        blank = Q(answered_by="")
        if report.answered_by in CallLog.MACHINE_ANSWERS:
            # Not once the call ended: its request was settled for a person, and a late machine
            # verdict would make the call disagree with it (see machines).
            blank &= Q(status__in=CallLog.LIVE_STATUSES)
        changes["answered_by"] = _if_blank("answered_by", report.answered_by, when=blank)
        missing |= blank
    if report.sip_response_code is not None:
        changes["sip_response_code"] = Coalesce(
            F("sip_response_code"), Value(report.sip_response_code)
        )
        missing |= Q(sip_response_code__isnull=True)
    answered_at = _answered_at(report, now)
    if answered_at is not None:
        changes["answered_at"] = Coalesce(F("answered_at"), answered_at)
        missing |= Q(answered_at__isnull=True)
    if report.error_code or report.error_message:
        # A code and its message go together: both fill where the call has no code yet.
        changes["error_code"] = _if_blank("error_code", report.error_code)
        changes["error_message"] = _if_blank(
            "error_message", report.error_message, when=Q(error_code="")
        )
        missing |= Q(error_code="")
    else:
        reason = sip_reason(status=report.status, code=report.sip_response_code)
        if reason:
            changes["error_message"] = _if_blank("error_message", reason)
            missing |= Q(error_message="")
    if not changes:
        return 0
    return CallLog.objects.filter(missing, pk=call_id).update(**changes)


def _if_blank(field: str, value: str, when: Q | None = None):
    """`value` where `when` holds (by default: the field is blank), else the field as it is."""
    condition = Q(**{field: ""}) if when is None else when
    return Case(
        When(condition, then=Value(value)),
        default=F(field),
        output_field=CallLog._meta.get_field(field),
    )
