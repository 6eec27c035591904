"""Generated hostile bodies, signed as Twilio signs, to every webhook: never a 5xx.

Each body mixes well-formed values (so that many get past the form and reach the database) with
extreme ones for every field the service reads: integers past any column, digits int() reads but
Twilio never writes, NUL and other control characters, very long text, unknown and repeated
fields, bytes that are not UTF-8, and content types Twilio never sends. It is signed over what
Django decodes, so it passes the signature check and reaches the parser and the database.
"""

from collections import Counter
from urllib.parse import quote, quote_from_bytes

import pytest
from django.db import transaction
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import CallEvent, CallLog
from tests.recipes import make_call, sid, sign

SID = sid("d")
FORM_ENCODED = "application/x-www-form-urlencoded"
ODD_CONTENT_TYPES = [
    "application/x-www-form-urlencoded; charset=UTF-8",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=bogus",
    "multipart/form-data; boundary=b; charset=raw-unicode-escape",
    "text/plain; charset=rot13",
]

integers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "32767", "32768", "2147483647", "2147483648", str(2**63), "-1"]),
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=12),  # '１２', '٣', ...
    st.sampled_from(["1_000", "5.0", " 5", "+5", "0x1f", "1e9", "5\n", "\u00a05", "0" * 30]),
)
unprintable = st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs", "Co"])
text = st.one_of(
    st.text(max_size=40),
    st.text(unprintable, max_size=10),
    # Past every cap (the longest is 1,000 characters) without costing seconds to parse.
    st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1, 3000)),
)
# What Twilio sends, field by field: most of each body is this, so it reaches the database.
WELL_FORMED = {
    "CallSid": st.sampled_from([SID, sid("e")]),
    "CallStatus": st.sampled_from(["queued", "ringing", "in-progress", "completed", "failed"]),
    "SequenceNumber": st.integers(0, 10).map(str),
    "CallDuration": st.integers(0, 100).map(str),
    "SipResponseCode": st.sampled_from(["200", "486", "603"]),
    "AnsweredBy": st.sampled_from(["human", "machine_start", "machine_end_beep", "unknown"]),
    "MachineDetectionDuration": st.integers(0, 30000).map(str),
    "ErrorCode": st.sampled_from(["", "31005", "32009"]),
    "ErrorMessage": st.sampled_from(["", "Busy everywhere", "Call rejected: 603 Decline"]),
    "From": st.sampled_from(["+14155550199", "anonymous", "client:alice"]),
    "To": st.sampled_from(["+14155550100", "+14155550999"]),
    "AccountSid": st.just("AC" + "0" * 32),
    "Direction": st.sampled_from(["inbound", "outbound-api"]),
    "Timestamp": st.just("Tue, 01 Dec 2026 10:00:00 +0000"),
    "CallbackSource": st.just("call-progress-events"),
    "Digits": st.sampled_from(["9", "1", "#", ""]),
}
NUMERIC = ("SequenceNumber", "CallDuration", "SipResponseCode", "MachineDetectionDuration")
# Built once: Hypothesis works out each strategy's properties the first time it draws from it.
HOSTILE_VALUES = {
    name: st.one_of(integers if name in NUMERIC else text, st.sampled_from(["", "\x00"]))
    for name in WELL_FORMED
}
SOME_FIELDS = {size: st.sets(st.sampled_from(list(WELL_FORMED)), max_size=size) for size in (2, 3)}
UNKNOWN_FIELDS = st.lists(st.tuples(text, text), max_size=2)  # fields Twilio may add one day
NOT_UTF8 = st.lists(st.binary(max_size=8).map(quote_from_bytes).map(str.encode), max_size=1)
CONTENT_TYPES = st.one_of(st.just(FORM_ENCODED), st.sampled_from(ODD_CONTENT_TYPES))


@st.composite
def bodies(draw):
    """(form-encoded body bytes, content type): a Twilio body with a few fields made hostile,
    some left out, some unknown ones added, one perhaps sent twice, and bytes not UTF-8."""
    made_hostile = draw(SOME_FIELDS[3])
    left_out = draw(SOME_FIELDS[2]) - made_hostile
    pairs = [
        (name, draw(HOSTILE_VALUES[name] if name in made_hostile else WELL_FORMED[name]))
        for name in WELL_FORMED
        if name not in left_out
    ]
    pairs += draw(UNKNOWN_FIELDS)
    if draw(st.booleans()):
        pairs.append((draw(st.sampled_from(pairs))[0], draw(text)))  # a field sent twice
    parts = [f"{quote(name)}={quote(value)}".encode() for name, value in pairs]
    parts += draw(NOT_UTF8)
    return b"&".join(parts), draw(CONTENT_TYPES)


@pytest.fixture
def calls(business):
    inbound = make_call(business, direction="inbound", call_sid=SID, status="ringing")
    return [inbound, make_call(business, number="+14155550123")]


def paths(calls):
    inbound, outbound = calls
    return [
        "/twilio/voice/status",
        "/twilio/voice/incoming",
        f"/twilio/calls/{inbound.public_id}/status",
        f"/twilio/calls/{outbound.public_id}/status",
        f"/twilio/calls/{outbound.public_id}/answer",
        f"/twilio/calls/{inbound.public_id}/amd",
        f"/twilio/calls/{outbound.public_id}/amd",
        f"/twilio/calls/{inbound.public_id}/gather",
        f"/twilio/calls/{outbound.public_id}/gather",
    ]


def post_signed(client, path, body, content_type):
    decoded = RequestFactory().generic("POST", path, body, content_type=content_type)
    try:
        signature = sign(path, decoded.POST)
    except Exception:  # what Twilio could not have signed either: refused, whatever it carries
        signature = "not-signable"
    return client.generic(
        "POST", path, body, content_type=content_type, HTTP_X_TWILIO_SIGNATURE=signature
    )


HOSTILE = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def post_hostile_bodies(client, calls, examples):
    """Posts `examples` generated bodies, each from the same rows; asserts none gets a 5xx, and
    that enough were taken (2xx) for the property to have reached the database."""
    answers = Counter()

    @settings(max_examples=examples, **HOSTILE)
    @given(path=st.sampled_from(paths(calls)), body=bodies())
    def post(path, body):
        with transaction.atomic():
            response = post_signed(client, path, *body)
            assert response.status_code < 500, (response.status_code, response.content[:300])
            for event in CallEvent.objects.all():
                assert all(k.isprintable() and v.isprintable() for k, v in event.params.items())
            transaction.set_rollback(True)
        answers[response.status_code // 100 * 100] += 1

    post()
    assert answers[200] >= examples // 10, answers
    assert CallLog.objects.filter(call_sid=SID, status="ringing").exists()  # rolled back each time


def test_a_signed_hostile_body_never_gets_a_5xx(client, calls):
    post_hostile_bodies(client, calls, 300)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)  # about a minute of one core a part; more when the machine is shared
@pytest.mark.parametrize("part", [1, 2])
def test_ten_thousand_signed_hostile_bodies_never_get_a_5xx(client, calls, part):
    """10,000 bodies in all, in two parts so the suite's workers share them (as one test it held
    a worker for 2.5 minutes of a CI run); each part draws its own random examples."""
    post_hostile_bodies(client, calls, 5_000)
