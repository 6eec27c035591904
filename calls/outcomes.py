"""Why a call ended as it did, in words an operator reads at 3 a.m.: what Twilio or the service
said (`error_message`), else Twilio's error code, else what the status itself means, with the
SIP code the carrier answered when a callback carried one."""

from calls.models import CallLog

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


def outcome_reason(call: CallLog, sip_code: int | None = None) -> str:
    """The reason to show for `call`; '' for a call that is live or completed without trouble.
    `sip_code` is the last SIP response code a callback reported for it, when known."""
    if call.error_message:
        return call.error_message
    if call.error_code:
        return f"Twilio error {call.error_code} (twilio.com/docs/api/errors/{call.error_code})."
    if call.status not in UNSUCCESSFUL:
        return ""
    reason = STATUS_REASONS[call.status]
    if sip_code and sip_code >= 300:
        reason = f"{reason[:-1]}; the carrier answered SIP {sip_code}."
    return reason
