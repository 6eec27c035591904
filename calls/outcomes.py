"""Why a call ended as it did, in words an operator reads at 3 a.m.: what Twilio or the service
said (`error_message`, which holds the SIP code's reason since the callbacks record it), else
Twilio's error code, else the SIP code's reason, else what the status itself means."""

from calls.models import CallLog
from calls.services.call_facts import sip_reason

Status = CallLog.Status
UNSUCCESSFUL = (Status.FAILED, Status.BUSY, Status.NO_ANSWER, Status.CANCELED)
# "Has an error": these ended without reaching anyone, whatever was recorded about why.
ERROR_STATUSES = (Status.FAILED, Status.BUSY, Status.NO_ANSWER)

STATUS_REASONS = {
    Status.BUSY: "The line was busy.",
    Status.NO_ANSWER: "Nobody answered before the ring timeout.",
    Status.CANCELED: "Ended before it was answered.",
    Status.FAILED: "The call could not be connected; Twilio gave no reason.",
}


def outcome_reason(call: CallLog) -> str:
    """The reason to show for `call`; '' for a call that is live or completed without trouble."""
    if call.error_message:
        return call.error_message
    if call.error_code:
        return f"Twilio error {call.error_code} (twilio.com/docs/api/errors/{call.error_code})."
    if call.reached_machine:
        left = "; the voicemail message was left" if call.voicemail_left_at else ""
        return f"Reached an answering machine ({call.answered_by}){left}."
    if call.status not in UNSUCCESSFUL:
        return ""
    reason = sip_reason(status=call.status, code=call.sip_response_code)
    return reason or STATUS_REASONS[call.status]
