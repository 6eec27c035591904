"""A call's story in time order, for its page: when it was claimed and sent, every report Twilio
sent (applied or not, and why not), the answer, who answered, the keys pressed, the voicemail,
a hang-up asked for, the end. Read from the call's own columns, its CallEvents and the opt-out
its keypress made."""

from dataclasses import dataclass
from datetime import datetime

from calls.models import CallEvent, CallLog
from calls.outcomes import outcome_reason
from calls.services.do_not_call import OPT_OUT_DIGIT
from compliance.models import DoNotCall


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime | None  # None: the moment was not recorded (placed after what came before it)
    what: str
    detail: str = ""


def call_timeline(call: CallLog) -> list[TimelineEntry]:
    outbound = call.direction == CallLog.Direction.OUTBOUND
    entries = [
        TimelineEntry(
            call.created_at,
            "Claimed for dialing" if outbound else "Came in",
            "" if outbound else f"from {call.from_number}",
        )
    ]
    if call.dial_started_at:
        entries.append(
            TimelineEntry(
                call.dial_started_at, "Create request sent to Twilio", f"from {call.from_number}"
            )
        )
    verdicts = 0
    for event in call.events.all():
        if event.source == CallEvent.Source.MACHINE_DETECTION:
            verdicts += 1
            detail = _verdict(event.status)
            if not event.applied:
                detail += "; it came after the call ended: kept for the record only"
            entries.append(TimelineEntry(event.received_at, "Machine detection's verdict", detail))
            continue
        detail = "applied" if event.applied else "not applied: stale, repeated or out of order"
        if event.sip_response_code:
            detail += f"; SIP {event.sip_response_code}"
        if event.sequence_number is not None:
            detail += f"; sequence {event.sequence_number}"
        source = "Twilio's callback" if event.source == "callback" else "Asked Twilio (reconcile)"
        entries.append(TimelineEntry(event.received_at, f"{source}: {event.status}", detail))
    if call.answered_at:
        entries.append(TimelineEntry(call.answered_at, "Answered"))
    if call.answered_by and not verdicts:
        # Told by a status callback's AnsweredBy (or a call from before verdicts were kept).
        entries.append(
            TimelineEntry(None, "Machine detection's verdict", _verdict(call.answered_by))
        )
    if call.digits:
        detail = ""
        opt_out = None
        if call.digits == OPT_OUT_DIGIT:
            opt_out = DoNotCall.objects.filter(source_call=call).first()
            detail = "opted out: on the do-not-call list" if opt_out else "the opt-out key"
        entries.append(
            TimelineEntry(opt_out and opt_out.created_at, f"Keys pressed: {call.digits}", detail)
        )
    if call.voicemail_left_at:
        entries.append(TimelineEntry(call.voicemail_left_at, "Voicemail message left"))
    if call.hang_up_requested_at:
        who = call.hang_up_requested_by
        detail = f"by {who.get_username()}" if who else ""
        entries.append(TimelineEntry(call.hang_up_requested_at, "Hang-up requested", detail))
    if call.ended_at:
        entries.append(TimelineEntry(call.ended_at, f"Ended: {call.status}", outcome_reason(call)))
    return _in_order(entries)


def _verdict(answered_by: str) -> str:
    known = answered_by in CallLog.AnsweredBy.values
    return CallLog.AnsweredBy(answered_by).label if known else answered_by


def _in_order(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """By time; an entry without one stays after the entry it followed when listed."""
    keyed, last = [], None
    for index, entry in enumerate(entries):
        last = entry.at or last
        keyed.append((last, index, entry))
    return [entry for _, _, entry in sorted(keyed, key=lambda k: (k[0] is None, k[0], k[1]))]
