"""The only module that talks to Twilio's REST API, and the one place unit tests patch.

Every failure becomes a `TwilioError` whose `kind` says what it proves about the call.
"""

import enum
import functools
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError


class ErrorKind(enum.Enum):
    REFUSED_NUMBER = "refused number"  # this call can never be placed: do not retry it
    REFUSED_BUSINESS = "refused business"  # nothing for this caller can be placed until fixed
    NOT_PLACED = "not placed"  # nothing was placed: try again later
    UNKNOWN = "unknown"  # the call may exist: never create it again blindly


REFUSED_NUMBER_CODES = {21211, 21214, 21217}
REFUSED_BUSINESS_CODES = {20003, 21210, 21215, 21216}
NOT_PLACED_CODES = {20429}


class TwilioError(Exception):
    def __init__(self, *, kind: ErrorKind, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message

    @property
    def permanent(self) -> bool:
        return self.kind in (ErrorKind.REFUSED_NUMBER, ErrorKind.REFUSED_BUSINESS)


@dataclass(frozen=True)
class TwilioCall:
    sid: str
    status: str
    to: str
    from_: str
    date_created: datetime | None
    duration: int | None
    answered_by: str


class RedirectingHttpClient(TwilioHttpClient):
    """Sends every request to TWILIO_API_BASE_URL, whatever host (region, edge) twilio chose."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        url = urlunsplit(
            (self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, "")
        )
        return super().request(method, url, *args, **kwargs)


@functools.cache
def _client(account_sid: str, auth_token: str, base_url: str, timeout: float) -> Client:
    if base_url:
        http_client = RedirectingHttpClient(base_url, timeout=timeout)
    else:
        http_client = TwilioHttpClient(timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client)


def client() -> Client:
    return _client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_API_BASE_URL,
        settings.TWILIO_HTTP_TIMEOUT_SECONDS,
    )


def _error_from(error: Exception) -> TwilioError:
    if isinstance(error, TwilioRestException):
        code = error.code or error.status
        message = error.msg or str(error)
        if code in REFUSED_NUMBER_CODES:
            kind = ErrorKind.REFUSED_NUMBER
        elif code in REFUSED_BUSINESS_CODES or error.status in (401, 403):
            kind = ErrorKind.REFUSED_BUSINESS
        elif code in NOT_PLACED_CODES or error.status == 429:
            kind = ErrorKind.NOT_PLACED
        elif error.status >= 500:
            kind = ErrorKind.UNKNOWN
        else:
            # Any other 4xx is a refusal of this one request: retrying it changes nothing.
            kind = ErrorKind.REFUSED_NUMBER
        return TwilioError(kind=kind, code=str(code), message=message)
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
    )


def _twilio(operation):
    """Runs one REST request, turning whatever goes wrong into a TwilioError."""
    try:
        return operation()
    except (TwilioRestException, requests.RequestException) as error:
        raise _error_from(error) from error


def call_create(
    *, to: str, from_: str, url: str, status_callback: str, timeout: int, time_limit: int
) -> str:
    """Places a call and returns its SID."""
    instance = _twilio(
        lambda: client().calls.create(
            to=to,
            from_=from_,
            url=url,
            status_callback=status_callback,
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=timeout,
            time_limit=time_limit,
        )
    )
    return instance.sid


def call_fetch(*, sid: str) -> TwilioCall:
    return _call(_twilio(lambda: client().calls(sid).fetch()))


def call_list(*, to: str, from_: str, limit: int = 50) -> list[TwilioCall]:
    """Newest first, as Twilio lists them."""
    instances = _twilio(lambda: client().calls.list(to=to, from_=from_, limit=limit))
    return [_call(instance) for instance in instances]


def call_hang_up(*, sid: str) -> None:
    _twilio(lambda: client().calls(sid).update(status="completed"))
