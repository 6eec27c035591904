"""The only module that talks to Twilio's REST API, and the one place unit tests patch.

Every request is sent under the account it concerns (`account`: twilio_accounts.credentials):
to /Accounts/<its SID>/… with its credentials. Every failure becomes a `TwilioError` whose
`kind` says what it proves about the call.
"""

import enum
import functools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from twilio_accounts.credentials import Credentials, main_credentials


class ErrorKind(enum.Enum):
    """What a failed request proves, sorted by whose fault it is."""

    REFUSED_NUMBER = "refused number"  # the number's fault: this request fails, nobody pauses
    REFUSED_BUSINESS = "refused business"  # the business's setup: pause it, keep its requests
    REFUSED_ACCOUNT = "refused account"  # the account's: pause all dialing, keep every request
    NOT_PLACED = "not placed"  # throttled or never connected: nothing placed, retry in seconds
    UNKNOWN = "unknown"  # the call may exist: never create it again blindly


# Whose fault a refusal is, by Twilio's error code. A 4xx whose code is not here is the
# business's (never the number's: one unknown code must not fail every request it meets), a 401
# or 403 the account's, a 429 a throttle, a 5xx unknown (see `error_kind`).
ERROR_KINDS = {
    # The number's fault: only this request fails.
    21211: ErrorKind.REFUSED_NUMBER,  # Invalid 'To' phone number
    21214: ErrorKind.REFUSED_NUMBER,  # 'To' phone number cannot be reached
    21215: ErrorKind.REFUSED_NUMBER,  # Geo permissions do not allow calling this destination
    21216: ErrorKind.REFUSED_NUMBER,  # Call blocked by Twilio (high-risk or regulated destination)
    21217: ErrorKind.REFUSED_NUMBER,  # Phone number does not appear to be valid
    21219: ErrorKind.REFUSED_NUMBER,  # 'To' number not verified (a trial account's limit)
    21401: ErrorKind.REFUSED_NUMBER,  # Invalid phone number
    13223: ErrorKind.REFUSED_NUMBER,  # Dial: invalid phone number format
    13224: ErrorKind.REFUSED_NUMBER,  # Dial: Twilio does not support calling this number
    13225: ErrorKind.REFUSED_NUMBER,  # Dial: forbidden phone number
    13226: ErrorKind.REFUSED_NUMBER,  # Dial: invalid country code
    13227: ErrorKind.REFUSED_NUMBER,  # Dial: no international authorization (geo permissions)
    # The business's fault: its calls cannot be placed until someone fixes its setup.
    21205: ErrorKind.REFUSED_BUSINESS,  # Invalid URL (the answer URL the service sent)
    21210: ErrorKind.REFUSED_BUSINESS,  # 'From' phone number not verified
    21212: ErrorKind.REFUSED_BUSINESS,  # Invalid 'From' (caller ID) phone number
    21213: ErrorKind.REFUSED_BUSINESS,  # 'From' (caller ID) phone number is required
    21218: ErrorKind.REFUSED_BUSINESS,  # Invalid ApplicationSid
    # The account's fault: nothing can be placed until its credentials or standing are fixed.
    20003: ErrorKind.REFUSED_ACCOUNT,  # Authenticate: permission denied (credentials)
    20005: ErrorKind.REFUSED_ACCOUNT,  # Account not active (suspended, out of funds)
    10001: ErrorKind.REFUSED_ACCOUNT,  # Account is not active
    # Not placed: Twilio never processed the request, so it is always safe to send again.
    20429: ErrorKind.NOT_PLACED,  # Too Many Requests
}

# The longest Retry-After honoured; beyond it the request waits this long and asks again.
RETRY_AFTER_LIMIT_SECONDS = 600


def error_kind(*, code: int | None, status: int) -> ErrorKind:
    """Whose fault a Twilio error response is; see ERROR_KINDS."""
    if code in ERROR_KINDS:
        return ERROR_KINDS[code]
    if status in (401, 403):
        return ErrorKind.REFUSED_ACCOUNT
    if status == 429:
        return ErrorKind.NOT_PLACED
    if status >= 500:
        return ErrorKind.UNKNOWN
    return ErrorKind.REFUSED_BUSINESS


class TwilioError(Exception):
    def __init__(
        self, *, kind: ErrorKind, code: str, message: str, retry_after: float | None = None
    ):
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message
        # Seconds Twilio asked the client to wait (its Retry-After header), when it said.
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind in (
            ErrorKind.REFUSED_NUMBER,
            ErrorKind.REFUSED_BUSINESS,
            ErrorKind.REFUSED_ACCOUNT,
        )


@dataclass(frozen=True)
class TwilioCall:
    sid: str
    status: str
    to: str
    from_: str
    date_created: datetime | None
    duration: int | None
    answered_by: str
    # What Twilio charged, as it reports it (negative, e.g. Decimal("-0.01300")) in `price_unit`;
    # None until Twilio has priced the call, some time after it ended.
    price: Decimal | None = None
    price_unit: str = ""


class ServiceHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, keeping what its exceptions drop: the Retry-After header.

    With a base URL, every request goes there, whatever host (region, edge) twilio chose.
    """

    def __init__(self, base_url: str = "", **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url) if base_url else None
        # Per thread: one client serves every thread of a process.
        self.seen = threading.local()

    def request(self, method, url, *args, **kwargs):
        if self.base:
            parts = urlsplit(url)
            url = urlunsplit(
                (self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, "")
            )
        self.seen.retry_after = None
        response = super().request(method, url, *args, **kwargs)
        self.seen.retry_after = _seconds((response.headers or {}).get("Retry-After"))
        return response


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date, as RFC 9110 allows."""
    if not retry_after:
        return None
    try:
        seconds = float(retry_after)
    except ValueError:
        try:
            moment = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = (moment - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_LIMIT_SECONDS)


@functools.cache
def _client(account_sid: str, auth_token: str, base_url: str, timeout: float) -> Client:
    http_client = ServiceHttpClient(base_url, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client)


def client(account: Credentials | None = None) -> Client:
    """A client sending every request under `account` (the main account when None)."""
    account = account or main_credentials()
    return _client(
        account.account_sid,
        account.auth_token,
        settings.TWILIO_API_BASE_URL,
        settings.TWILIO_HTTP_TIMEOUT_SECONDS,
    )


def _error_from(error: Exception, retry_after: float | None = None) -> TwilioError:
    if isinstance(error, TwilioRestException | TwilioServiceException):
        code = error.code or error.status
        message = getattr(error, "msg", None) or getattr(error, "detail", None) or str(error)
        kind = error_kind(code=code, status=error.status)
        return TwilioError(kind=kind, code=str(code), message=message, retry_after=retry_after)
    if isinstance(error, requests.ConnectTimeout):
        return TwilioError(kind=ErrorKind.NOT_PLACED, code="connect-timeout", message=str(error))
    if isinstance(error, requests.ConnectionError) and _never_connected(error):
        return TwilioError(kind=ErrorKind.NOT_PLACED, code="connection-refused", message=str(error))
    if isinstance(error, requests.ReadTimeout):
        return TwilioError(
            kind=ErrorKind.UNKNOWN, code="read-timeout", message="Twilio did not answer in time."
        )
    return TwilioError(kind=ErrorKind.UNKNOWN, code="network", message=str(error))


def _never_connected(error: requests.ConnectionError) -> bool:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _call(instance) -> TwilioCall:
    return TwilioCall(
        sid=instance.sid,
        status=instance.status,
        to=instance.to,
        from_=instance._from,
        date_created=instance.date_created,
        duration=int(instance.duration) if instance.duration not in (None, "") else None,
        answered_by=instance.answered_by or "",
        price=_decimal(instance.price),
        price_unit=(instance.price_unit or "").upper(),
    )


def _decimal(value) -> Decimal | None:
    """Twilio's price as a Decimal; None while it has none (or sends something that is not one)."""
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _twilio(account: Credentials, operation):
    """Runs one REST request on `account`'s client, turning whatever goes wrong into a
    TwilioError."""
    try:
        return operation(client(account))
    except (TwilioRestException, TwilioServiceException, requests.RequestException) as error:
        seen = client(account).http_client.seen
        raise _error_from(error, getattr(seen, "retry_after", None)) from error


def call_create(
    *,
    account: Credentials,
    to: str,
    from_: str,
    url: str,
    status_callback: str,
    timeout: int,
    time_limit: int,
    machine_detection_callback: str = "",
) -> str:
    """Places a call and returns its SID.

    With `machine_detection_callback`, Twilio also works out whether a person or a machine
    answered, in the background (the script plays meanwhile), and posts its verdict there once
    a machine's greeting has ended (DetectMessageEnd), so a message left then starts after the
    beep.
    """
    detection = {}
    if machine_detection_callback:
        detection = {
            "machine_detection": "DetectMessageEnd",
            "async_amd": "true",
            "async_amd_status_callback": machine_detection_callback,
            "async_amd_status_callback_method": "POST",
        }
    instance = _twilio(
        account,
        lambda twilio: twilio.calls.create(
            to=to,
            from_=from_,
            url=url,
            status_callback=status_callback,
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=timeout,
            time_limit=time_limit,
            **detection,
        ),
    )
    return instance.sid


def call_fetch(*, account: Credentials, sid: str) -> TwilioCall:
    return _call(_twilio(account, lambda twilio: twilio.calls(sid).fetch()))


def call_list(*, account: Credentials, to: str, from_: str, limit: int = 50) -> list[TwilioCall]:
    """Newest first, as Twilio lists them."""
    instances = _twilio(account, lambda twilio: twilio.calls.list(to=to, from_=from_, limit=limit))
    return [_call(instance) for instance in instances]


def call_hang_up(*, account: Credentials, sid: str) -> TwilioCall:
    """Ends the call (canceled if it was not answered yet); returns it as Twilio then saw it."""
    return _call(_twilio(account, lambda twilio: twilio.calls(sid).update(status="completed")))


def call_update(*, account: Credentials, sid: str, twiml: str) -> TwilioCall:
    """Replaces what a live call is playing with `twiml`; returns the call as Twilio then saw it."""
    return _call(_twilio(account, lambda twilio: twilio.calls(sid).update(twiml=twiml)))


@dataclass(frozen=True)
class TwilioSubaccount:
    sid: str
    auth_token: str
    friendly_name: str
    status: str


def _subaccount(instance) -> TwilioSubaccount:
    return TwilioSubaccount(
        sid=instance.sid,
        auth_token=instance.auth_token,
        friendly_name=instance.friendly_name or "",
        status=instance.status,
    )


def subaccount_create(*, friendly_name: str) -> TwilioSubaccount:
    """Creates a subaccount of the main account (POST /2010-04-01/Accounts.json)."""
    return _subaccount(
        _twilio(
            main_credentials(),
            lambda twilio: twilio.api.v2010.accounts.create(friendly_name=friendly_name),
        )
    )


def subaccount_close(*, sid: str) -> TwilioSubaccount:
    """Closes a subaccount of the main account for good (POST /2010-04-01/Accounts/<sid>.json,
    Status=closed): Twilio releases its numbers and it can never be used again."""
    return _subaccount(
        _twilio(
            main_credentials(),
            lambda twilio: twilio.api.v2010.accounts(sid).update(status="closed"),
        )
    )


@dataclass(frozen=True)
class TwilioNumber:
    sid: str
    phone_number: str
    voice: bool


def incoming_numbers_list(*, account: Credentials) -> list[TwilioNumber]:
    """The account's phone numbers (IncomingPhoneNumbers), every page."""
    instances = _twilio(account, lambda twilio: twilio.incoming_phone_numbers.list())
    return [
        TwilioNumber(
            sid=instance.sid,
            phone_number=instance.phone_number,
            voice=bool((instance.capabilities or {}).get("voice", True)),
        )
        for instance in instances
    ]
