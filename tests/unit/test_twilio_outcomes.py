"""Whose fault a Twilio refusal is, and what a SIP code tells an operator, pinned without a
database or a network."""

import pytest

from calls.services.call_facts import sip_reason
from calls.twilio_client import ERROR_KINDS, ErrorKind, error_kind

K = ErrorKind


def test_the_codes_of_refusals_are_sorted_by_whose_fault_they_are():
    by_kind = {}
    for code, kind in ERROR_KINDS.items():
        by_kind.setdefault(kind, set()).add(code)
    assert by_kind == {
        K.REFUSED_NUMBER: {21211, 21214, 21215, 21216, 21217, 21219, 21401,
                           13223, 13224, 13225, 13226, 13227},
        K.REFUSED_BUSINESS: {21205, 21210, 21212, 21213, 21218},
        K.REFUSED_ACCOUNT: {20003, 20005, 10001},
        K.NOT_PLACED: {20429},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (21215, 400, K.REFUSED_NUMBER),  # geo permissions: the number's fault, never a pause
        (21216, 400, K.REFUSED_NUMBER),
        (21205, 400, K.REFUSED_BUSINESS),
        (21299, 400, K.REFUSED_BUSINESS),  # unknown 4xx: never the number's fault
        (None, 400, K.REFUSED_BUSINESS),
        (20003, 401, K.REFUSED_ACCOUNT),
        (None, 401, K.REFUSED_ACCOUNT),
        (None, 403, K.REFUSED_ACCOUNT),
        (20429, 429, K.NOT_PLACED),
        (None, 429, K.NOT_PLACED),
        (20500, 500, K.UNKNOWN),
        (None, 503, K.UNKNOWN),
    ],
)
def test_an_error_response_is_classified_by_its_code_then_its_status(code, status, kind):
    assert error_kind(code=code, status=status) is kind


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        ("failed", 404, "The number is not in service (SIP 404)."),
        ("failed", 480, "The callee is unavailable (SIP 480)."),
        ("busy", 486, "The line was busy (SIP 486)."),
        ("failed", 603, "The callee declined the call (SIP 603)."),
        ("failed", 599, "The carrier failed to connect the call (SIP 599)."),
        ("failed", 699, "The callee declined the call (SIP 699)."),
        ("failed", 499, "The carrier refused the call (SIP 499)."),
        ("no-answer", 487, "Nobody answered before the ring timeout (SIP 487)."),
        ("completed", 200, ""),
        ("failed", None, ""),
        ("canceled", 487, ""),
    ],
)
def test_an_unanswered_call_gets_a_human_reason_from_its_sip_code(status, code, reason):
    assert sip_reason(status=status, code=code) == reason
