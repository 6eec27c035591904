"""The calls, their lifecycle on the simulated clock, the callbacks they send, and the stats."""

import collections
import dataclasses
import datetime
import heapq
import hmac
import itertools
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime

from twilio.request_validator import RequestValidator

from twilio_sim import outcomes
from twilio_sim.clock import SimClock

logger = logging.getLogger("twilio_sim")

API_VERSION = "2010-04-01"
PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
TERMINAL = ("completed", "busy", "no-answer", "failed", "canceled")
# What a callee whose outcome is `opt-out` presses at a <Gather>.
OPT_OUT_DIGITS = "9"
SIP_RESPONSE_CODES = {
    "completed": 200,
    "busy": 486,
    "no-answer": 487,
    "canceled": 487,
    "failed": 500,
}
# Time from leaving the queue to ringing (or to failing); Twilio's is a fraction of a second.
DIAL_SECONDS = 0.5
DEFAULT_TIMEOUT = 60
DEFAULT_TIME_LIMIT = 14400


def sip_response_code(call):
    if call.planned_outcome == outcomes.REJECTED and call.phase == "busy":
        return 603
    return SIP_RESPONSE_CODES[call.phase]


def rfc2822(moment):
    return None if moment is None else format_datetime(moment)


@dataclasses.dataclass(eq=False)
class Account:
    """The main account or one of its subaccounts: its own credentials, calls, calls-per-second
    queue and signing token."""

    sid: str
    auth_token: str
    friendly_name: str
    owner_sid: str  # the main account's SID (its own, for the main account)
    date_created: datetime.datetime
    status: str = "active"  # active, suspended or closed (for good)
    date_updated: datetime.datetime | None = None

    @property
    def is_main(self):
        return self.sid == self.owner_sid


@dataclasses.dataclass(eq=False)
class Call:
    sid: str
    to: str
    from_: str
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    status_callback_method: str
    events: tuple
    timeout: float
    time_limit: float
    machine_detection: bool
    planned_outcome: str
    created_at: float
    updated_at: float
    reorder_callbacks: bool = False
    # The account it was created under: its callbacks carry that AccountSid and its signature.
    account_sid: str = ""
    # "Enable" or "DetectMessageEnd" (the create's MachineDetection); AsyncAmd and its callback.
    machine_detection_mode: str = ""
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    # Real UTC times, as the REST resource reports them (see SimClock.moment).
    date_created: datetime.datetime | None = None
    date_updated: datetime.datetime | None = None
    start_time: datetime.datetime | None = None
    end_time: datetime.datetime | None = None
    # Twilio's REST resource has no "initiated" status (it stays "queued"); the phase does.
    phase: str = "queued"
    initiated_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    answered_by: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    next_sequence_number: int = 0
    held_callbacks: list = dataclasses.field(default_factory=list)
    timeline: list = dataclasses.field(default_factory=list)
    # Each TwiML document the call played, in order: the answer URL's (or the create's inline
    # Twiml), then any a call update sent. `document` counts the updates, so the end planned
    # for an older document does not cut a newer one short.
    played: list = dataclasses.field(default_factory=list)
    document: int = 0
    # Where `twiml` came from: the create, or an update sent before the call was answered.
    twiml_source: str = "create"
    outbox: collections.deque = dataclasses.field(default_factory=collections.deque)
    sending: bool = False

    @property
    def status(self):
        return "queued" if self.phase == "initiated" else self.phase

    @property
    def ended(self):
        return self.ended_at is not None

    @property
    def duration(self):
        """Seconds answered; None while live, 0 for a call never connected (as Twilio reports)."""
        if not self.ended:
            return None
        if self.answered_at is None:
            return 0
        return int(round(self.ended_at - self.answered_at))


class Switchboard:
    def __init__(self, *, account_sid, auth_token, settings):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._defaults = settings
        self.settings = settings.updated({})
        self.clock = SimClock(speed=settings.speed, mode=settings.clock)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="twilio-sim-callback")
        self._in_flight = 0
        self._sequence = itertools.count()
        self._running = False
        self._agenda_thread = None
        self._forget_everything()

    # --- lifecycle of the switchboard itself

    def start(self):
        self._running = True
        self._agenda_thread = threading.Thread(
            target=self._run_agenda, name="twilio-sim-agenda", daemon=True
        )
        self._agenda_thread.start()

    def stop(self):
        with self._changed:
            self._running = False
            self._changed.notify_all()
        if self._agenda_thread:
            self._agenda_thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def reset(self):
        with self._changed:
            self.settings = self._defaults.updated({})
            self.clock.rebase(speed=self.settings.speed, mode=self.settings.clock)
            self._forget_everything()
            self._changed.notify_all()

    def configure(self, changes):
        with self._changed:
            self.settings = self.settings.updated(changes)
            if "seed" in changes:
                self._rng = random.Random(self.settings.seed)
            self.clock.rebase(speed=self.settings.speed, mode=self.settings.clock)
            self._changed.notify_all()
            return self.settings.as_dict()

    def _forget_everything(self):
        self.calls = {}
        now = datetime.datetime.now(datetime.UTC)
        main = Account(self.account_sid, self.auth_token, "Main account", self.account_sid, now)
        self.accounts = {main.sid: main}
        self._agenda = []
        # Twilio's calls-per-second queue, one per account (a subaccount's does not roll up).
        self._next_dial_at = collections.defaultdict(float)
        self._rng = random.Random(self.settings.seed)
        self._create_requests = []  # (monotonic seconds, From, AccountSid)
        self._live_by_from = collections.Counter()
        self._max_live_by_from = collections.Counter()
        self._live_timeline_by_from = collections.defaultdict(list)
        self._live_total = 0
        self._max_live_total = 0
        self._callback_counts = collections.Counter()
        self._create_faults_served = collections.Counter()

    # --- the REST API's operations

    def note_create_request(self, from_, account_sid=None):
        with self._lock:
            self._create_requests.append((time.monotonic(), from_, account_sid or self.account_sid))

    # --- the Accounts API

    def account_for(self, sid, token):
        """The account these Basic credentials prove, or None."""
        with self._lock:
            account = self.accounts.get(sid)
            if account is None or not hmac.compare_digest(
                account.auth_token.encode(), token.encode()
            ):
                return None
            return account

    def account_create(self, friendly_name):
        with self._lock:
            now = datetime.datetime.now(datetime.UTC)
            account = Account(
                sid="AC" + uuid.uuid4().hex,
                auth_token=uuid.uuid4().hex,
                friendly_name=friendly_name or f"SubAccount Created at {format_datetime(now)}",
                owner_sid=self.account_sid,
                date_created=now,
                date_updated=now,
            )
            self.accounts[account.sid] = account
            return account

    def account_update(self, account, *, status=None, friendly_name=None):
        """Twilio's account update: a closed account stays closed; the main one is never closed."""
        with self._lock:
            if status:
                if account.status == "closed" or (account.is_main and status != "active"):
                    raise ValueError(f"Account {account.sid} cannot become {status}.")
                account.status = status
            if friendly_name:
                account.friendly_name = friendly_name
            account.date_updated = datetime.datetime.now(datetime.UTC)
            return account

    def numbers_of(self, account):
        """The account's IncomingPhoneNumbers: the main account's, or a subaccount's own."""
        with self._lock:
            if account.is_main:
                return list(self.settings.incoming_numbers)
            return list(self.settings.account_numbers.get(account.sid, []))

    def number_owner(self, number):
        """The SID of the account that has `number`, or None when no account has it here."""
        with self._lock:
            if number in self.settings.incoming_numbers:
                return self.account_sid
            for sid, numbers in self.settings.account_numbers.items():
                if number in numbers:
                    return sid
            return None

    def refusal_code(self, to, from_):
        """The Twilio error code a create to or from these numbers is refused with, if any."""
        with self._lock:
            for number in (to, from_):
                code = self.settings.numbers.get(number, {}).get("refuse")
                if code is not None:
                    self._create_faults_served["refused"] += 1
                    return code
            return None

    def take_create_fault(self, to):
        """The fault this create must suffer, if any: a per-number counter first, then the run's."""
        with self._lock:
            per_number = self.settings.numbers.get(to, {})
            for fault in ("create_hang", "create_429", "create_500", "create_500_placed"):
                if per_number.get(fault, 0) > 0:
                    per_number[fault] -= 1
                elif getattr(self.settings, fault) > 0:
                    setattr(self.settings, fault, getattr(self.settings, fault) - 1)
                else:
                    continue
                self._create_faults_served[fault] += 1
                return fault
            return None

    def place_call(
        self,
        *,
        to,
        from_,
        url,
        method,
        twiml,
        status_callback,
        status_callback_method,
        events,
        timeout,
        time_limit,
        machine_detection,
        machine_detection_mode="",
        async_amd=False,
        async_amd_status_callback=None,
        async_amd_status_callback_method="POST",
        account_sid=None,
    ):
        with self._changed:
            now = self.clock.now()
            settings = self.settings
            call = Call(
                sid="CA" + uuid.uuid4().hex,
                to=to,
                from_=from_,
                url=url,
                method=method,
                twiml=twiml,
                status_callback=status_callback,
                status_callback_method=status_callback_method,
                events=events,
                timeout=timeout,
                time_limit=time_limit,
                machine_detection=machine_detection,
                machine_detection_mode=machine_detection_mode
                or ("Enable" if machine_detection else ""),
                async_amd=async_amd and machine_detection,
                async_amd_status_callback=async_amd_status_callback,
                async_amd_status_callback_method=async_amd_status_callback_method,
                planned_outcome=outcomes.outcome_for(
                    to, settings.seed, settings.mix, settings.numbers, from_, self._rng
                ),
                created_at=now,
                updated_at=now,
                reorder_callbacks=self._rng.random() < self._fault(to, "reorder_callbacks"),
            )
            call.date_created = call.date_updated = self.clock.moment(now)
            call.account_sid = account_sid or self.account_sid
            self.calls[call.sid] = call
            self._record(call, now, "status", status="queued")
            self._count_live(call.from_, +1, now)
            # Twilio's calls-per-second limit, per account: its queue releases one call every
            # 1/cps seconds.
            dial_at = max(now, self._next_dial_at[call.account_sid])
            self._next_dial_at[call.account_sid] = dial_at + 1.0 / settings.cps
            self._schedule(dial_at, self._initiate, call)
            return call

    def hang_up(self, call, requested_status):
        """Status=canceled ends a queued or ringing call; Status=completed ends any live call."""
        with self._changed:
            now = self.clock.now()
            self._record(call, now, "update", requested_status=requested_status)
            if call.ended:
                return False
            if call.phase == "in-progress":
                if requested_status == "completed":
                    self._end(call, now, "completed")
                # Twilio ignores Status=canceled on an answered call.
            else:
                self._end(call, now, "canceled")
            return True

    def redirect(self, call, twiml):
        """A call update's Twiml: an answered call plays it at once (what it was playing stops),
        then ends (its <Hangup/>, or the document running out); one not answered yet plays it
        when answered."""
        with self._changed:
            now = self.clock.now()
            self._record(call, now, "update", twiml=twiml)
            if call.ended:
                return False
            if call.phase != "in-progress":
                call.twiml, call.twiml_source = twiml, "update"
                return True
            call.document += 1
            call.played.append({"at": round(now, 6), "source": "update", "twiml": twiml})
            speaks = any(verb.tag != "Hangup" for verb in ElementTree.fromstring(twiml))
            ends = now + (self.settings.update_play_seconds if speaks else 0.0)
            self._schedule(ends, self._talk_ends, call, call.document)
            return True

    def visible_calls(self):
        """Calls the list shows: Twilio's list is eventually consistent, so new ones lag."""
        with self._lock:
            cutoff = self.clock.now() - self.settings.list_delay
            return [call for call in self.calls.values() if call.created_at <= cutoff]

    # --- the clock's agenda

    def _schedule(self, at, action, call, *args):
        heapq.heappush(self._agenda, (at, next(self._sequence), action, call, args))
        self._changed.notify_all()

    def _fire_next(self):
        at, _, action, call, args = heapq.heappop(self._agenda)
        try:
            action(call, at, *args)
        except Exception:
            logger.exception("twilio_sim: %s failed for %s", action.__name__, call.sid)

    def _run_agenda(self):
        with self._changed:
            while self._running:
                if self.clock.manual or not self._agenda:
                    self._changed.wait()
                    continue
                delay = self.clock.real_seconds_until(self._agenda[0][0])
                if delay > 0:
                    self._changed.wait(delay)
                    continue
                self._fire_next()

    def advance(self, seconds, *, settle_timeout=10.0):
        """Move a manual clock; fire what falls due in order and wait for the requests they send."""
        with self._changed:
            if not self.clock.manual:
                raise ValueError("the clock is not manual; configure clock='manual' first")
            target = self.clock.now() + max(0.0, float(seconds))
        deadline = time.monotonic() + settle_timeout
        while True:
            with self._changed:
                while self._agenda and self._agenda[0][0] <= target:
                    self.clock.set(self._agenda[0][0])
                    self._fire_next()
                # An answer URL's reply can end a call "now", which puts new work on the agenda.
                self._changed.wait_for(
                    lambda: self._in_flight == 0, max(0.0, deadline - time.monotonic())
                )
                if (
                    not (self._agenda and self._agenda[0][0] <= target)
                    or time.monotonic() > deadline
                ):
                    self.clock.set(target)
                    return self.clock.now()

    # --- a call's lifecycle (each step runs under the lock, at its scheduled time)

    def _initiate(self, call, at):
        if call.ended:
            return
        call.phase, call.initiated_at = "initiated", at
        call.start_time = self.clock.moment(at)
        self._record(call, at, "status", status="initiated")
        self._progress(call, at, "initiated")
        if call.planned_outcome == outcomes.FAILED:
            self._schedule(at + DIAL_SECONDS, self._end, call, "failed")
        else:
            self._schedule(at + DIAL_SECONDS, self._ring, call)

    def _ring(self, call, at):
        if call.ended:
            return
        call.phase, call.ringing_at = "ringing", at
        self._record(call, at, "status", status="ringing")
        self._progress(call, at, "ringing")
        ring_seconds, outcome = self.settings.ring_seconds, call.planned_outcome
        if outcome == outcomes.RING_TIMEOUT:
            self._schedule(at + call.timeout, self._end, call, "no-answer")
        elif outcome == outcomes.REJECTED:
            self._schedule(at, self._end, call, "busy")
        elif outcome in (outcomes.BUSY, outcomes.NO_ANSWER) or call.timeout < ring_seconds:
            status = "busy" if outcome == outcomes.BUSY else "no-answer"
            self._schedule(at + min(ring_seconds, call.timeout), self._end, call, status)
        else:
            self._schedule(at + ring_seconds, self._answer, call)

    def _answer(self, call, at):
        if call.ended:
            return
        call.phase, call.answered_at = "in-progress", at
        if call.machine_detection and not call.async_amd:
            # Synchronous detection: the answer URL waits for the verdict and carries it.
            call.answered_by = self._verdict(call)
        self._record(call, at, "status", status="in-progress")
        self._progress(call, at, "answered")
        if call.twiml is not None:
            if not is_twiml(call.twiml.encode()):
                self._fail_application(
                    call, at, 12100, "Document parse failure: Twiml is not valid TwiML"
                )
                return
            call.played.append(
                {"at": round(at, 6), "source": call.twiml_source, "twiml": call.twiml}
            )
        elif call.url:
            self._enqueue(call, self._answer_request(call))
        talk = (
            self.settings.short_call_seconds
            if call.planned_outcome == outcomes.SHORT_CALL
            else self.settings.call_seconds
        )
        if call.async_amd:
            self._schedule(at + self.settings.amd_seconds, self._detect, call)
            if call.planned_outcome == outcomes.MACHINE:
                # A machine takes its greeting, then records until it hangs up by itself.
                talk = self.settings.amd_seconds + self.settings.machine_seconds
        self._schedule(at + min(talk, call.time_limit), self._talk_ends, call, call.document)

    def _verdict(self, call):
        """What answering-machine detection says: a machine's message end (DetectMessageEnd) or
        its start (Enable) for a number whose outcome is a machine, else a human."""
        if call.planned_outcome != outcomes.MACHINE:
            return "human"
        return (
            "machine_end_beep"
            if call.machine_detection_mode == "DetectMessageEnd"
            else ("machine_start")
        )

    def _detect(self, call, at):
        """AsyncAmd: the verdict, posted to AsyncAmdStatusCallback while the call goes on."""
        if call.ended:
            return
        call.answered_by = self._verdict(call)
        self._record(call, at, "amd", answered_by=call.answered_by)
        if not call.async_amd_status_callback:
            return
        params = {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "AnsweredBy": call.answered_by,
            "MachineDetectionDuration": str(int(round(self.settings.amd_seconds * 1000))),
        }
        self._enqueue(
            call,
            {
                "kind": "amd",
                "url": call.async_amd_status_callback,
                "method": call.async_amd_status_callback_method,
                "params": params,
            },
        )

    def _talk_ends(self, call, at, document):
        # Only the end planned for the document now playing: an update replaced older ones.
        if call.document == document:
            self._end(call, at, "completed")

    def _end(self, call, at, status):
        if call.ended:
            return
        call.phase, call.ended_at = status, at
        call.end_time = self.clock.moment(at)
        self._record(call, at, "status", status=status)
        self._count_live(call.from_, -1, at)
        self._progress(call, at, "completed")
        for delivery in call.held_callbacks:
            self._enqueue(call, delivery)
        call.held_callbacks = []

    def _fail_application(self, call, at, code, message):
        # Twilio plays "an application error has occurred" and hangs up: the call is completed.
        call.error_code, call.error_message = code, message
        self._record(call, at, "error", error_code=code, error_message=message)
        self._end(call, at, "completed")

    # --- callbacks

    def _progress(self, call, at, event):
        if event not in call.events or not call.status_callback:
            return
        sequence_number = call.next_sequence_number
        call.next_sequence_number += 1
        # Callbacks name the phase ("initiated" too), unlike the REST resource.
        params = self._call_params(call, call.phase)
        params.update(
            SequenceNumber=str(sequence_number),
            Timestamp=rfc2822(self.clock.moment(at)),
            CallbackSource="call-progress-events",
        )
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        if event == "completed":
            params.update(
                CallDuration=str(call.duration), SipResponseCode=str(sip_response_code(call))
            )
        delivery = {
            "kind": "callback",
            "url": call.status_callback,
            "method": call.status_callback_method,
            "params": params,
            "sequence_number": sequence_number,
            "status": params["CallStatus"],
        }
        dropped = self._rng.random() < self._fault(call.to, "drop_callbacks") or (
            event == "completed" and self._fault(call.to, "drop_terminal_callback")
        )
        if dropped:
            self._callback_counts["dropped"] += 1
            self._record(
                call,
                at,
                "callback_dropped",
                status=delivery["status"],
                sequence_number=sequence_number,
            )
            return
        copies = 2 if self._rng.random() < self._fault(call.to, "duplicate_callbacks") else 1
        if copies == 2:
            self._callback_counts["duplicated"] += 1
        deliveries = [delivery, {**delivery, "duplicate": True}][:copies]
        if call.reorder_callbacks and event != "completed":
            # Held until the terminal callback has gone: "completed" arrives before "ringing".
            self._callback_counts["held"] += 1
            self._record(
                call,
                at,
                "callback_held",
                status=delivery["status"],
                sequence_number=sequence_number,
            )
            call.held_callbacks.extend(deliveries)
            return
        for each in deliveries:
            self._enqueue(call, each)

    def _answer_request(self, call):
        params = self._call_params(call, "in-progress")
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return {"kind": "answer", "url": call.url, "method": call.method, "params": params}

    def _call_params(self, call, status):
        return {
            "CallSid": call.sid,
            "AccountSid": call.account_sid,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
            "Direction": "outbound-api",
            "CallStatus": status,
            "ApiVersion": API_VERSION,
        }

    def _enqueue(self, call, delivery):
        """Each call sends its requests one at a time, in order; calls send in parallel."""
        call.outbox.append(delivery)
        self._in_flight += 1
        if not call.sending:
            call.sending = True
            self._pool.submit(self._send_outbox, call)

    def _send_outbox(self, call):
        while True:
            with self._changed:
                if not call.outbox:
                    call.sending = False
                    return
                delivery = call.outbox.popleft()
            response_code, body, error = self._send(delivery)
            with self._changed:
                self._in_flight -= 1
                self._delivered(call, delivery, response_code, body, error)
                self._changed.notify_all()

    def _send(self, delivery):
        url, params = delivery["url"], delivery["params"]
        data = urllib.parse.urlencode(params).encode()
        # Signed with the token of the call's account, as Twilio signs a subaccount's requests.
        with self._lock:
            account = self.accounts.get(params.get("AccountSid"))
        validator = RequestValidator(account.auth_token if account else self.auth_token)
        if delivery["method"] == "GET":
            url = url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
            signature, data = validator.compute_signature(url, {}), None
        else:
            signature = validator.compute_signature(url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
        }
        if delivery["kind"] == "callback":
            # Twilio repeats the token on a retried (duplicate) request.
            headers["I-Twilio-Idempotency-Token"] = (
                f"{params['CallSid']}-{delivery['sequence_number']}"
            )
        request = urllib.request.Request(url, data=data, headers=headers, method=delivery["method"])
        try:
            with urllib.request.urlopen(
                request, timeout=self.settings.callback_timeout
            ) as response:
                return response.status, response.read(), None
        except urllib.error.HTTPError as error:
            return error.code, error.read(), None
        except (urllib.error.URLError, OSError, ValueError) as error:
            return None, b"", str(getattr(error, "reason", error))

    def _delivered(self, call, delivery, response_code, body, error):
        now = self.clock.now()
        ok = response_code is not None and 200 <= response_code < 300
        if delivery["kind"] == "callback":
            self._callback_counts["sent" if ok else "failed"] += 1
            self._record(
                call,
                now,
                "callback",
                status=delivery["status"],
                sequence_number=delivery["sequence_number"],
                duplicate=delivery.get("duplicate", False),
                url=delivery["url"],
                response_code=response_code,
                error=error,
            )
            return
        if delivery["kind"] == "amd":
            self._record(
                call,
                now,
                "amd_callback",
                url=delivery["url"],
                answered_by=delivery["params"]["AnsweredBy"],
                response_code=response_code,
                error=error,
            )
            return
        if delivery["kind"] == "gather":
            digits = delivery["params"]["Digits"]
            self._record(
                call,
                now,
                "gather",
                url=delivery["url"],
                digits=digits,
                response_code=response_code,
                error=error,
            )
            if not call.ended and ok and _hangs_up(body):
                self._end(call, now, "completed")
            return
        self._record(
            call, now, "answer_url", url=delivery["url"], response_code=response_code, error=error
        )
        if ok and is_twiml(body) and call.document == 0:
            # (An update that came first replaced it: the callee never heard this one.) With a
            # manual clock the call may have ended meanwhile; it still played from its answer.
            text = body.decode("utf-8", errors="replace")
            call.played.append({"at": round(now, 6), "source": "answer_url", "twiml": text})
        if call.ended or call.phase != "in-progress":
            return
        if not ok:
            self._fail_application(
                call, now, 11200, f"HTTP retrieval failure: {error or response_code}"
            )
        elif not is_twiml(body):
            self._fail_application(
                call, now, 12100, "Document parse failure: the answer URL did not return TwiML"
            )
        elif call.planned_outcome == outcomes.OPT_OUT and (gather := _gather_of(body)):
            # The callee presses 9 at the first <Gather>: Twilio posts Digits to its action.
            params = {**self._call_params(call, "in-progress"), "Digits": OPT_OUT_DIGITS}
            action = urllib.parse.urljoin(delivery["url"], gather.get("action") or "")
            method = (gather.get("method") or "POST").upper()
            self._enqueue(
                call, {"kind": "gather", "url": action, "method": method, "params": params}
            )

    # --- bookkeeping

    def _fault(self, to, name):
        return self.settings.numbers.get(to, {}).get(name, getattr(self.settings, name))

    def _record(self, call, at, event, **details):
        call.updated_at = max(call.updated_at, at)
        call.date_updated = self.clock.moment(at)
        call.timeline.append({"at": round(at, 6), "event": event, **details})

    def _count_live(self, from_, change, at):
        self._live_by_from[from_] += change
        self._live_total += change
        self._max_live_by_from[from_] = max(
            self._max_live_by_from[from_], self._live_by_from[from_]
        )
        self._max_live_total = max(self._max_live_total, self._live_total)
        self._live_timeline_by_from[from_].append([round(at, 6), self._live_by_from[from_]])

    def stats(self):
        with self._lock:
            by_status = collections.Counter(call.phase for call in self.calls.values())
            by_from, by_account = collections.defaultdict(list), collections.defaultdict(list)
            for moment, from_, account_sid in self._create_requests:
                by_from[from_].append(moment)
                by_account[account_sid].append(moment)
            return {
                "now": self.clock.now(),
                "calls": len(self.calls),
                "by_status": dict(by_status),
                "live": self._live_total,
                "max_live": self._max_live_total,
                "live_by_from": {key: value for key, value in self._live_by_from.items()},
                "max_live_by_from": dict(self._max_live_by_from),
                "live_timeline_by_from": {
                    key: list(value) for key, value in self._live_timeline_by_from.items()
                },
                "create_requests": len(self._create_requests),
                "max_creates_per_second": _max_in_one_second(
                    [moment for moment, *_ in self._create_requests]
                ),
                "create_requests_by_account": {
                    sid: len(moments) for sid, moments in by_account.items()
                },
                "max_creates_per_second_by_account": {
                    sid: _max_in_one_second(moments) for sid, moments in by_account.items()
                },
                "max_creates_per_second_by_from": {
                    from_: _max_in_one_second(moments) for from_, moments in by_from.items()
                },
                "create_faults": dict(self._create_faults_served),
                "callbacks": {
                    name: self._callback_counts[name]
                    for name in ("sent", "failed", "dropped", "duplicated", "held")
                },
            }

    def records(self):
        with self._lock:
            return [self.call_record(call) for call in self.calls.values()]

    def call_record(self, call):
        """What `GET /_sim/calls` shows of a call: the resource's facts plus the simulator's own."""
        with self._lock:
            return {
                "sid": call.sid,
                "account_sid": call.account_sid,
                "to": call.to,
                "from": call.from_,
                "status": call.status,
                "phase": call.phase,
                "planned_outcome": call.planned_outcome,
                "answered_by": call.answered_by,
                "duration": call.duration,
                "error_code": call.error_code,
                "error_message": call.error_message,
                "url": call.url,
                "status_callback": call.status_callback,
                "status_callback_events": list(call.events),
                "timeout": call.timeout,
                "time_limit": call.time_limit,
                "reorder_callbacks": call.reorder_callbacks,
                "machine_detection": call.machine_detection_mode or None,
                "async_amd": call.async_amd,
                "async_amd_status_callback": call.async_amd_status_callback,
                "played": [dict(entry) for entry in call.played],
                "created_at": call.created_at,
                "initiated_at": call.initiated_at,
                "ringing_at": call.ringing_at,
                "answered_at": call.answered_at,
                "ended_at": call.ended_at,
                "date_created": rfc2822(call.date_created),
                "timeline": [dict(entry) for entry in call.timeline],
            }

    @property
    def lock(self):
        """Held while a response reads a call, so a half-applied change is never shown."""
        return self._lock


def is_twiml(body):
    try:
        return ElementTree.fromstring(body).tag == "Response"
    except ElementTree.ParseError:
        return False


def _gather_of(body):
    """The first <Gather> of a TwiML answer, or None."""
    return ElementTree.fromstring(body).find(".//Gather")


def _hangs_up(body):
    return is_twiml(body) and ElementTree.fromstring(body).find("Hangup") is not None


def _max_in_one_second(moments):
    """The most moments inside any one-second window (a sliding window, not calendar seconds)."""
    moments = sorted(moments)
    best, first = 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best
