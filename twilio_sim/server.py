"""The HTTP face of the simulator: Twilio's Calls REST API plus the `/_sim/` control API."""

import base64
import datetime
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio_sim.resources import (
    account_resource,
    call_page,
    call_resource,
    number_page,
    refusal,
    twilio_error,
)
from twilio_sim.settings import SimSettings
from twilio_sim.switchboard import (
    DEFAULT_TIME_LIMIT,
    DEFAULT_TIMEOUT,
    PROGRESS_EVENTS,
    Switchboard,
    is_twiml,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CALLS_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls\.json$")
CALL_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
NUMBERS_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers\.json$")
ACCOUNTS_PATH = re.compile(r"^/2010-04-01/Accounts\.json$")
ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)\.json$")
LIST_FILTERS = ("To", "From", "Status", "StartTime", "StartTime>", "StartTime<")


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, switchboard, *, verbose=False):
        self.switchboard = switchboard
        self.verbose = verbose
        super().__init__(address, SimRequestHandler)


class SimRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "twilio-sim"

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    @property
    def switchboard(self):
        return self.server.switchboard

    def _dispatch(self, method):
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if parts.path.startswith("/_sim/"):
                self._control(method, parts.path, body)
            else:
                self._rest(method, parts, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a hanging create outlived its timeout)

    def _json(self, status, payload, headers=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, code, message, headers=None):
        self._json(status, twilio_error(status, code, message), headers)

    # --- Twilio's REST API

    def _authenticated(self):
        """The account whose SID and auth token the Basic credentials carry, or None."""
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return self.switchboard.account_for(username, password)

    def _rest(self, method, parts, body):
        caller = self._authenticated()
        if caller is None:
            return self._error(401, 20003, "Authenticate")
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        if ACCOUNTS_PATH.match(parts.path) or ACCOUNT_PATH.match(parts.path):
            return self._accounts(method, parts.path, caller, form)
        calls_match, call_match = CALLS_PATH.match(parts.path), CALL_PATH.match(parts.path)
        numbers_match = NUMBERS_PATH.match(parts.path)
        match = calls_match or call_match or numbers_match
        if not match:
            return self._error(404, 20404, f"The requested resource {parts.path} was not found")
        account = self.switchboard.accounts.get(match["account"])
        # Credentials of one account never reach another's resources; the main account's reach
        # its subaccounts', as Twilio's do.
        if account is None or caller.sid not in (account.sid, account.owner_sid):
            return self._error(401, 20003, "Authenticate")
        if account.status != "active":
            return self._error(401, 20005, "Account not active")
        if numbers_match and method == "GET":
            query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            return self._numbers(query, account)
        if calls_match and method == "POST":
            return self._create(form, account)
        if calls_match and method == "GET":
            query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            return self._list(query, account)
        if call_match and method in ("GET", "POST"):
            call = self.switchboard.calls.get(call_match["sid"])
            if call is None or call.account_sid != account.sid:
                return self._error(404, 20404, f"The requested resource {parts.path} was not found")
            if method == "GET":
                return self._json(200, call_resource(self.switchboard, call))
            return self._update(call, form)
        return self._error(405, 20004, "Method not allowed")

    def _accounts(self, method, path, caller, form):
        """The Accounts API: a main account creates, fetches, suspends and closes subaccounts;
        a subaccount sees only itself."""
        if ACCOUNTS_PATH.match(path):
            if method != "POST":
                return self._error(405, 20004, "Method not allowed")
            if not caller.is_main:
                return self._error(403, 20008, "Subaccounts cannot create subaccounts")
            name = (form.get("FriendlyName") or [""])[0].strip()
            return self._json(201, account_resource(self.switchboard.account_create(name)))
        account = self.switchboard.accounts.get(ACCOUNT_PATH.match(path)["account"])
        if account is None or caller.sid not in (account.sid, account.owner_sid):
            return self._error(404, 20404, f"The requested resource {path} was not found")
        if method == "GET":
            return self._json(200, account_resource(account))
        if method != "POST":
            return self._error(405, 20004, "Method not allowed")
        status = (form.get("Status") or [""])[0]
        if status and (status not in ("active", "suspended", "closed") or not caller.is_main):
            return self._error(400, 20001, f"Invalid Status: {status}")
        try:
            self.switchboard.account_update(
                account, status=status, friendly_name=(form.get("FriendlyName") or [""])[0]
            )
        except ValueError as error:
            return self._error(400, 20001, str(error))
        return self._json(200, account_resource(account))

    def _create(self, form, account):
        def first(name):
            return (form.get(name) or [""])[0].strip()

        to, from_ = first("To"), first("From")
        self.switchboard.note_create_request(from_, account.sid)
        if not to:
            return self._error(400, 21201, "No 'To' number is specified")
        if not from_:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not (first("Url") or first("Twiml") or first("ApplicationSid")):
            return self._error(400, 21205, "Url parameter is required.")
        if not E164.match(to):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not E164.match(from_):
            return self._error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        owner = self.switchboard.number_owner(from_)
        if owner is not None and owner != account.sid:
            return self._error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your "
                "account. You may only make calls from phone numbers that you've verified or "
                "purchased from Twilio.",
            )
        # Twilio takes the field repeated; some clients send one space-separated value.
        requested = [
            event
            for value in form.get("StatusCallbackEvent", [])
            for event in value.replace(",", " ").split()
        ]
        events = tuple(event for event in PROGRESS_EVENTS if event in requested) or ("completed",)

        code = self.switchboard.refusal_code(to, from_)
        if code is not None:
            return self._json(*refusal(code, to=to, from_=from_, url=first("Url")))
        fault = self.switchboard.take_create_fault(to)
        if fault == "create_429":
            retry_after = self.switchboard.settings.retry_after
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after else None
            return self._error(429, 20429, "Too Many Requests", headers)
        if fault == "create_500":
            return self._error(500, 20500, "An internal server error has occurred")
        call = None
        if fault != "create_hang" or self.switchboard.settings.hang_places_call:
            call = self.switchboard.place_call(
                to=to,
                from_=from_,
                url=first("Url") or None,
                method=(first("Method") or "POST").upper(),
                twiml=(form.get("Twiml") or [None])[0],
                status_callback=first("StatusCallback") or None,
                status_callback_method=(first("StatusCallbackMethod") or "POST").upper(),
                events=events,
                timeout=_whole_seconds(first("Timeout"), DEFAULT_TIMEOUT, upper=600),
                time_limit=_whole_seconds(first("TimeLimit"), DEFAULT_TIME_LIMIT, upper=86400),
                machine_detection=first("MachineDetection") in ("Enable", "DetectMessageEnd"),
                machine_detection_mode=first("MachineDetection"),
                async_amd=first("AsyncAmd").lower() == "true",
                async_amd_status_callback=first("AsyncAmdStatusCallback") or None,
                async_amd_status_callback_method=(
                    first("AsyncAmdStatusCallbackMethod") or "POST"
                ).upper(),
                account_sid=account.sid,
            )
        if fault == "create_hang":
            time.sleep(self.switchboard.settings.hang_seconds)
            if call is None:
                return self._error(500, 20500, "An internal server error has occurred")
        if fault == "create_500_placed":
            return self._error(500, 20500, "An internal server error has occurred")
        return self._json(201, call_resource(self.switchboard, call))

    def _update(self, call, form):
        status = (form.get("Status") or [""])[0]
        twiml = (form.get("Twiml") or [""])[0]
        if status and status not in ("canceled", "completed"):
            return self._error(400, 20001, f"Invalid Status: {status}; use canceled or completed")
        if not status and twiml and not is_twiml(twiml.encode()):
            return self._error(400, 12100, "Document parse failure: Twiml is not valid TwiML")
        if call.ended:
            return self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status:
            self.switchboard.hang_up(call, status)
        elif twiml:
            self.switchboard.redirect(call, twiml)
        return self._json(200, call_resource(self.switchboard, call))

    def _list(self, query, account):
        filters = [(name, value) for name, value in query if name in LIST_FILTERS and value]
        params = dict(query)
        try:
            page_size = min(max(int(params.get("PageSize") or 50), 1), 1000)
            page = max(int(params.get("Page") or 0), 0)
            matches = [
                call
                for call in self.switchboard.visible_calls()
                if call.account_sid == account.sid and _matches(call, filters)
            ]
        except ValueError as error:
            return self._error(400, 20001, f"Invalid parameter: {error}")
        # Newest first; calls created in the same instant keep newest-first by creation order.
        matches = sorted(reversed(matches), key=lambda call: call.created_at, reverse=True)
        self._json(
            200,
            call_page(
                self.switchboard,
                matches,
                account_sid=account.sid,
                filters=filters,
                page=page,
                page_size=page_size,
            ),
        )

    def _numbers(self, query, account):
        params = dict(query)
        try:
            page_size = min(max(int(params.get("PageSize") or 50), 1), 1000)
            page = max(int(params.get("Page") or 0), 0)
        except ValueError as error:
            return self._error(400, 20001, f"Invalid parameter: {error}")
        wanted = params.get("PhoneNumber")
        numbers = [
            number
            for number in self.switchboard.numbers_of(account)
            if not wanted or number == wanted
        ]
        self._json(200, number_page(account.sid, numbers, page=page, page_size=page_size))

    # --- the simulator's own control API

    def _control(self, method, path, body):
        switchboard = self.switchboard
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            return self._json(400, {"error": f"invalid JSON: {error}"})
        try:
            if path == "/_sim/calls" and method == "GET":
                calls = switchboard.records()
                return self._json(200, {"now": switchboard.clock.now(), "calls": calls})
            if path.startswith("/_sim/calls/") and method == "GET":
                call = switchboard.calls.get(path.rsplit("/", 1)[1])
                if call is None:
                    return self._json(404, {"error": "no such call"})
                return self._json(200, switchboard.call_record(call))
            if path == "/_sim/accounts" and method == "GET":
                with switchboard.lock:
                    accounts = [account_resource(a) for a in switchboard.accounts.values()]
                return self._json(200, {"accounts": accounts})
            if path == "/_sim/stats" and method == "GET":
                return self._json(200, switchboard.stats())
            if path == "/_sim/config" and method == "GET":
                return self._json(200, switchboard.settings.as_dict())
            if path == "/_sim/config" and method == "POST":
                return self._json(200, switchboard.configure(payload))
            if path == "/_sim/reset" and method == "POST":
                switchboard.reset()
                return self._json(200, {"reset": True})
            if path == "/_sim/clock" and method == "GET":
                clock = switchboard.clock
                return self._json(
                    200, {"now": clock.now(), "clock": clock.mode, "speed": clock.speed}
                )
            if path == "/_sim/clock" and method == "POST":
                return self._json(
                    200, {"now": switchboard.advance(float(payload.get("advance", 0)))}
                )
        except (ValueError, TypeError) as error:
            return self._json(400, {"error": str(error)})
        return self._json(404, {"error": f"no control endpoint {method} {path}"})


def _whole_seconds(text, default, *, upper):
    try:
        return min(max(int(text), 1), upper) if text else default
    except ValueError:
        return default


def _matches(call, filters):
    """Twilio filters StartTime by UTC date (YYYY-MM-DD); a full ISO datetime compares exactly."""
    for name, value in filters:
        if name == "To" and call.to != value:
            return False
        if name == "From" and call.from_ != value:
            return False
        if name == "Status" and call.status != value:
            return False
        if name.startswith("StartTime"):
            # A call not yet dialed has no start_time; its creation stands in for it.
            started = call.start_time or call.date_created
            if len(value) == 10:
                moment, bound = started.date(), datetime.date.fromisoformat(value)
            else:
                moment = started.replace(microsecond=0)
                bound = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                if bound.tzinfo is None:
                    bound = bound.replace(tzinfo=datetime.UTC)
            if name == "StartTime" and moment != bound:
                return False
            if name == "StartTime>" and moment < bound:
                return False
            if name == "StartTime<" and moment > bound:
                return False
    return True


class Simulator:
    """The simulator in one object: `start()` serves from a background thread, `stop()` ends it.

    Settings are `SimSettings` fields (cps, list_delay, ring_seconds, call_seconds, speed, clock,
    mix, seed, numbers and the fault knobs); port=0 picks a free port.
    """

    def __init__(
        self, *, account_sid, auth_token, host="127.0.0.1", port=8765, verbose=False, **settings
    ):
        self.switchboard = Switchboard(
            account_sid=account_sid, auth_token=auth_token, settings=SimSettings().updated(settings)
        )
        self.host = host
        self._server = SimHTTPServer((host, port), self.switchboard, verbose=verbose)
        self.port = self._server.server_address[1]
        self._thread = None

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        self.switchboard.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="twilio-sim-http", daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self):
        self.switchboard.start()
        try:
            self._server.serve_forever()
        finally:
            self.stop()

    def stop(self):
        if self._thread:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.switchboard.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()
