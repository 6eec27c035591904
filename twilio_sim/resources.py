"""The JSON bodies Twilio's REST API answers with: the Call resource, its list page, errors."""

import hashlib
import math
import urllib.parse

from twilio_sim.switchboard import API_VERSION, rfc2822

SUBRESOURCES = {
    "notifications": "Notifications",
    "recordings": "Recordings",
    "payments": "Payments",
    "events": "Events",
    "siprec": "Siprec",
    "streams": "Streams",
    "transcriptions": "Transcriptions",
    "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
    "user_defined_messages": "UserDefinedMessages",
}


# What Twilio answers when it refuses a create, by error code: (HTTP status, message). A code not
# listed answers 400 with a generic message.
REFUSALS = {
    20003: (401, "Authenticate"),
    20005: (401, "Account not active"),
    21205: (400, "Url is not a valid URL: {url}"),
    21210: (
        400,
        "The source phone number provided, {from_}, is not yet verified for your account.",
    ),
    21211: (400, "Invalid 'To' Phone Number: {to}"),
    21212: (400, "Invalid 'From' Phone Number: {from_}"),
    21214: (400, "'To' phone number cannot be reached"),
    21215: (
        400,
        "Account not authorized to call {to}. Perhaps you need to enable some international "
        "permissions: https://www.twilio.com/console/voice/calls/geo-permissions/low-risk",
    ),
    21216: (400, "Call blocked by Twilio"),
    21217: (400, "Phone number does not appear to be valid"),
    21218: (400, "Invalid ApplicationSid"),
}


def refusal(code, *, to, from_, url):
    """(status, body) of a create Twilio refuses with `code`."""
    status, message = REFUSALS.get(code, (400, f"Error {code}"))
    return status, twilio_error(status, code, message.format(to=to, from_=from_, url=url))


def twilio_error(status, code, message):
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def accounts_path(account_sid):
    return f"/{API_VERSION}/Accounts/{account_sid}"


def call_resource(switchboard, call):
    with switchboard.lock:
        return _call_resource(switchboard, call)


def _call_resource(switchboard, call):
    base = f"{accounts_path(call.account_sid)}/Calls/{call.sid}"
    queue_time = (
        0 if call.initiated_at is None else int(round((call.initiated_at - call.created_at) * 1000))
    )
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "parent_call_sid": None,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": _formatted(call.to),
        "from": call.from_,
        "from_formatted": _formatted(call.from_),
        "phone_number_sid": None,
        "status": call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration is None else str(call.duration),
        "price": _price(switchboard, call),
        "price_unit": "USD",
        "direction": "outbound-api",
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": str(queue_time),
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {name: f"{base}/{path}.json" for name, path in SUBRESOURCES.items()},
    }


def _price(switchboard, call):
    """Null until price_delay_seconds after the call ended; then negative, as Twilio reports a
    charge ("-0.02600"): price_per_minute for each started minute of a completed call (one at
    least), 0 for any other ending."""
    settings = switchboard.settings
    if not call.ended or switchboard.clock.now() < call.ended_at + settings.price_delay_seconds:
        return None
    minutes = max(1, math.ceil(call.duration / 60)) if call.phase == "completed" else 0
    return f"{-minutes * settings.price_per_minute:.5f}" if minutes else "0.00000"


def account_resource(account):
    """The Account resource (2010-04-01): the auth token is in it, as Twilio answers its owner."""
    base = accounts_path(account.sid)
    return {
        "sid": account.sid,
        "auth_token": account.auth_token,
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.owner_sid,
        "status": account.status,
        "type": "Full",
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_updated or account.date_created),
        "uri": f"{base}.json",
        "subresource_uris": {"calls": f"{base}/Calls.json"},
    }


def list_page(key, items, resource, *, path, filters=(), page, page_size):
    """One page of Twilio's list shape under `key`, each item as `resource` gives it; the page
    URIs carry the filters, as Twilio's do."""
    start = page * page_size
    chosen = items[start : start + page_size]

    def page_uri(number):
        query = urllib.parse.urlencode([*filters, ("PageSize", page_size), ("Page", number)])
        return f"{path}?{query}"

    return {
        key: [resource(item) for item in chosen],
        "page": page,
        "page_size": page_size,
        "start": start,
        "end": start + max(len(chosen) - 1, 0),
        "uri": page_uri(page),
        "first_page_uri": page_uri(0),
        "next_page_uri": page_uri(page + 1) if start + page_size < len(items) else None,
        "previous_page_uri": page_uri(page - 1) if page > 0 else None,
    }


def call_page(switchboard, calls, *, account_sid, filters, page, page_size):
    """One page of Calls.json."""
    return list_page(
        "calls",
        calls,
        lambda call: call_resource(switchboard, call),
        path=f"{accounts_path(account_sid)}/Calls.json",
        filters=filters,
        page=page,
        page_size=page_size,
    )


def number_sid(number):
    """A stable IncomingPhoneNumber SID for a number (PN + 32 hex digits)."""
    return "PN" + hashlib.md5(number.encode(), usedforsecurity=False).hexdigest()


def number_resource(account_sid, number):
    """An IncomingPhoneNumber as Twilio's REST API answers it (the fields a client reads)."""
    path = f"{accounts_path(account_sid)}/IncomingPhoneNumbers/{number_sid(number)}"
    return {
        "sid": number_sid(number),
        "account_sid": account_sid,
        "phone_number": number,
        "friendly_name": _formatted(number),
        "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
        "status": "in-use",
        "voice_url": None,
        "api_version": API_VERSION,
        "date_created": None,
        "date_updated": None,
        "uri": f"{path}.json",
    }


def number_page(account_sid, numbers, *, page, page_size):
    """One page of an account's IncomingPhoneNumbers.json."""
    return list_page(
        "incoming_phone_numbers",
        numbers,
        lambda number: number_resource(account_sid, number),
        path=f"{accounts_path(account_sid)}/IncomingPhoneNumbers.json",
        page=page,
        page_size=page_size,
    )


def _formatted(number):
    if number.startswith("+1") and len(number) == 12:
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number
