"""A generated model of the whole queue (Hypothesis's RuleBasedStateMachine).

Hypothesis drives the services through histories no one would write: numbers queued over the
API and the bulk path, campaigns steered, requests canceled and retried, businesses paused by
Twilio and resumed, numbers listed and erased, the cleanup, the clock crossing window edges,
tasks run, run twice (the ORM broker) or lost (the Redis broker), and Twilio itself: creates
refused, throttled or of unknown outcome, callbacks delivered late, twice, out of order or not
at all, machine verdicts before and after the end, a callee pressing 9. After every step the
queue's invariants must hold (tests/invariants.py), and at every create Twilio's side checks
that the call may be placed at that moment.

Everything runs on one connection inside the test's transaction, each history in a savepoint
rolled back at its end; what the services queue on commit is captured into the model's broker
(`tasks`) instead of django-q2. One clock drives the history: calls.clock, django's
timezone.now and the database's Now() in the queue's queries all read `ModelClock`.
"""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DateTimeField, Q, Value
from django.test import Client, TestCase
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from api.keys import api_key_create
from calls import twilio_client
from calls.models import Business, CallLog, CallRequest, Campaign, DialingControl, DoNotCall
from calls.services.callbacks import call_callback_record
from calls.services.calling_rules import callee_decision
from calls.services.campaign_numbers import NumberRow, campaign_numbers_add
from calls.services.cleanup import cleanup_run
from calls.services.do_not_call import call_keypress_record, do_not_call_add
from calls.services.enqueue import enqueue_outbound_calls
from calls.services.erasure import ErasureRefused, number_erase
from calls.services.machines import call_machine_verdict_record
from calls.services.operator_actions import (
    calls_hang_up,
    campaign_set_status,
    request_cancel,
    request_retry_now,
)
from calls.services.pauses import business_resume, dialing_set
from calls.services.status import StatusReport
from calls.signals import requests_settled
from calls.twilio_client import TwilioCall, TwilioError, error_kind
from tests.invariants import idle_campaigns, queue_violations
from webhooks.tasks import webhook_deliver

# A Monday, 00:00 UTC, on US standard time; a history starts within the week after it.
MONDAY = datetime(2026, 1, 12, tzinfo=UTC)
# Numbers in zones whose windows open and close at different instants.
NUMBERS = {
    "los-angeles": "+1213555{:04d}",
    "new-york": "+1212555{:04d}",
    "honolulu": "+1808555{:04d}",
    "chicago": "+1312555{:04d}",
}
LIVE_AT_TWILIO = ("queued", "initiated", "ringing", "in-progress")
# Twilio's next status from each (the callback events asked for: initiated, ringing, answered,
# completed), and the statuses a hang-up ends a call in.
NEXT = {
    "queued": ("initiated",),
    "initiated": ("ringing",),
    "ringing": ("in-progress", "busy", "no-answer", "failed"),
    "in-progress": ("completed",),
}
REFUSALS = {
    "number": (21211, 400),
    "business": (21210, 400),
    "throttled": (20429, 429),
    "account": (20003, 401),
    "unknown": (None, 500),
}


# Minutes after MONDAY: a weekday between 17:00 and 01:00 UTC (09:00-17:00 in Los Angeles, noon
# to 20:00 in New York, 07:00-15:00 in Honolulu).
AFTERNOONS = st.builds(
    lambda day, minute: day * 24 * 60 + 17 * 60 + minute, st.integers(0, 4), st.integers(0, 8 * 60)
)


class ModelClock:
    def __init__(self, now: datetime):
        self.now = now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class TwilioSideCall:
    """A call as Twilio knows it: its status, and the callbacks it has yet to deliver."""

    sid: str
    to: str
    from_: str
    public_id: str
    created: datetime
    status: str = "queued"
    sequence: int = 0
    outbox: list = field(default_factory=list)  # ("status", status, seq) or ("amd", verdict)
    delivered: list = field(default_factory=list)
    machine_detection: bool = False
    hangs_up_after_update: bool = False

    def move(self, status: str) -> None:
        self.status = status
        self.outbox.append(("status", status, self.sequence))
        self.sequence += 1


class TwilioSide:
    """Twilio behind calls/twilio_client.py's patch point, with the checks a create must pass."""

    def __init__(self, clock: ModelClock):
        self.clock = clock
        self.calls: dict[str, TwilioSideCall] = {}
        self.sids = itertools.count(1)
        self.refusals: list[tuple[str, bool]] = []  # (kind, placed anyway) for the next creates
        self.violations: list[str] = []
        self.creates = 0

    def call_create(
        self, *, account, to, from_, url, status_callback, timeout, time_limit, **kwargs
    ):
        public_id = urlsplit(status_callback).path.split("/")[3]
        self._check_may_be_placed(public_id, to)
        self.creates += 1
        kind, placed = self.refusals.pop(0) if self.refusals else (None, True)
        call = None
        if placed:
            sid = f"CA{next(self.sids):032x}"
            call = TwilioSideCall(
                sid, to, from_, public_id, self.clock.now,
                machine_detection=bool(kwargs.get("machine_detection_callback")),
            )  # fmt: skip
            self.calls[sid] = call
        if kind is not None:
            code, status = REFUSALS[kind]
            raise TwilioError(
                kind=error_kind(code=code, status=status),
                code=str(code or status),
                message=f"The model's Twilio refused ({kind}).",
                retry_after=None,
            )
        return call.sid

    def _check_may_be_placed(self, public_id: str, to: str) -> None:
        call = CallLog.objects.select_related("business", "request__campaign").get(
            public_id=public_id
        )
        request, business = call.request, call.business
        campaign = request.campaign if request else None
        problems = []
        if call.status != CallLog.Status.PENDING or call.dial_started_at is None:
            problems.append(f"sent while {call.status}, stamped {call.dial_started_at}")
        if request and (request.cancel_requested_at or request.status != "active"):
            problems.append(
                f"its request is {request.status} (cancel: {request.cancel_requested_at})"
            )
        if call.hang_up_requested_at:
            problems.append("a hang-up was asked for")
        if not business.can_dial or DialingControl.get().paused:
            problems.append("dialing is paused")
        if campaign and campaign.status != Campaign.Status.RUNNING:
            problems.append(f"its campaign is {campaign.status}")
        if (
            DoNotCall.objects.filter(phone_number=to)
            .filter(Q(business=business) | Q(business__isnull=True))
            .exists()
        ):
            problems.append("the number is on a do-not-call list")
        # The histories' campaigns are informational: no cap counts the create being checked.
        decision = callee_decision(business=business, campaign=campaign, number=to)
        if not decision.allowed:
            problems.append(f"held by the calling rules ({decision.reason})")
        if request and request.attempts > request.max_attempts:
            problems.append(f"attempt {request.attempts} of {request.max_attempts}")
        if problems:
            self.violations.append(f"create to {to} at {self.clock.now}: {'; '.join(problems)}")

    def _seen(self, call: TwilioSideCall) -> TwilioCall:
        return TwilioCall(
            sid=call.sid,
            status=call.status,
            to=call.to,
            from_=call.from_,
            date_created=call.created,
            duration=5 if call.status == "completed" else None,
            answered_by="",
        )

    def _not_found(self):
        return TwilioError(
            kind=error_kind(code=20404, status=404), code="20404", message="Not found"
        )

    def call_fetch(self, *, account, sid):
        if sid not in self.calls:
            raise self._not_found()
        return self._seen(self.calls[sid])

    def call_list(self, *, account, to, from_, limit=50):
        found = [c for c in self.calls.values() if c.to == to and c.from_ == from_]
        return [self._seen(c) for c in sorted(found, key=lambda c: c.created, reverse=True)]

    def call_hang_up(self, *, account, sid):
        call = self.calls.get(sid)
        if call is None:
            raise self._not_found()
        if call.status not in LIVE_AT_TWILIO:
            raise TwilioError(
                kind=error_kind(code=21220, status=400), code="21220", message="Not in progress"
            )
        call.move("completed" if call.status == "in-progress" else "canceled")
        return self._seen(call)

    def call_update(self, *, account, sid, twiml):
        call = self.calls.get(sid)
        if call is None or call.status not in LIVE_AT_TWILIO:
            raise TwilioError(
                kind=error_kind(code=21220, status=400), code="21220", message="Not in progress"
            )
        call.hangs_up_after_update = "<Hangup" in twiml
        return self._seen(call)


class QueueModel(RuleBasedStateMachine):
    """One history of the queue; see the module's docstring."""

    # Set by the test that runs it (tests/integration/test_queue_model.py).
    harness = None

    def __init__(self):
        super().__init__()
        self.clock = ModelClock(MONDAY)
        self.twilio = TwilioSide(self.clock)
        self.tasks: list[tuple] = []
        self.settlings: dict[int, int] = {}
        self.cleanups = 0
        self.harness.attach(self)
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.client = Client()

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        self.harness.detach()

    # The broker: what the services queued on commit.

    def queued(self, function, key) -> None:
        # Webhook deliveries talk to the businesses' endpoints: not modeled here (their messages
        # are counted by an invariant; tests/integration/test_webhook_deliveries.py sends them).
        if function is not webhook_deliver:
            self.tasks.append((function, key))

    def settled(self, request_ids) -> None:
        for pk in request_ids:
            self.settlings[pk] = self.settlings.get(pk, 0) + 1

    def act(self, function, *args, **kwargs):
        """Runs one interface's call as a transaction that commits: what it queued on commit
        reaches the broker, what it announced is counted.

        What one call queued reaches the broker in a fixed order (by task, then key). The
        services queue in the order rows come back, and without an ORDER BY PostgreSQL returns
        them as they lie on disk: where an updated row lands depends on the space the histories
        run before it left (rolled back, not vacuumed), so a replay of the same choices could
        find its tasks in another order, run another one at the same index, and Hypothesis
        would call the model flaky."""
        self.clock.advance(0.001)  # time moves between steps, however little
        queued_before = len(self.tasks)
        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                return function(*args, **kwargs)
        finally:
            self.tasks[queued_before:] = sorted(self.tasks[queued_before:], key=_task_order)

    # The world

    @initialize(
        # Mostly a weekday's US afternoon (every number's window open or about to be), else any
        # minute of the week.
        start=st.one_of(*[AFTERNOONS] * 3, st.integers(0, 7 * 24 * 60 - 1)),
        caps=st.tuples(st.integers(1, 3), st.integers(1, 3)),
        account_cap=st.sampled_from([None, 3]),
        options=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    )
    def world(self, start, caps, account_cap, options):
        hooked, machine_detection, narrow = options
        self.clock.now = MONDAY + timedelta(minutes=start)
        settings.TWILIO_MAX_CONCURRENT_CALLS = account_cap
        self.businesses = []
        for n, cap in enumerate(caps):
            business = Business.objects.create(
                name=f"Business {n}",
                phone_number=f"+1415555{9000 + n:04d}",
                max_concurrent_calls=cap,
                max_attempts=3,
                retry_delay_seconds=60,
            )
            if hooked and n == 0:
                Business.objects.filter(pk=business.pk).update(
                    webhook_url="https://hooks.example.com/calls",
                    webhook_secret="whsec_" + "A" * 32,
                )
            self.businesses.append(business)
        self.numbers = [pattern.format(k) for k in (1, 2) for pattern in NUMBERS.values()]
        self.campaigns = []
        for business in self.businesses:
            for name, extra in (
                ("wide", {}),
                ("narrow", {"concurrency": 1, "window_start_hour": 10} if narrow else {}),
            ):
                campaign = Campaign.objects.create(
                    business=business,
                    name=name,
                    machine_detection=machine_detection,
                    offers_opt_out=True,
                    **extra,
                )
                self.campaigns.append(campaign)
        self.keys = {b.pk: api_key_create(business=b, name="model")[1] for b in self.businesses}

    # Queuing

    @rule(data=st.data())
    def queue_over_the_api(self, data):
        business = data.draw(st.sampled_from(self.businesses))
        number = data.draw(st.sampled_from(self.numbers))
        campaigns = [c for c in self.campaigns if c.business_id == business.pk]
        campaign = data.draw(st.sampled_from([None, *campaigns]))
        body = {"to": number}
        if campaign is not None:
            body["campaign"] = campaign.pk
        response = self.act(
            self.client.post,
            "/api/v1/calls",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.keys[business.pk]}"},
        )
        assert response.status_code in (201, 409, 422), response.content

    @rule(data=st.data())
    def queue_in_bulk(self, data):
        campaign = data.draw(st.sampled_from(self.campaigns))
        numbers = data.draw(st.lists(st.sampled_from(self.numbers), min_size=1, max_size=3))
        if data.draw(st.booleans()):
            self.act(
                campaign_numbers_add,
                campaign=campaign,
                rows=[NumberRow(k, n) for k, n in enumerate(numbers)],
            )
        else:
            business = Business.objects.get(pk=campaign.business_id)
            self.act(enqueue_outbound_calls, business=business, numbers=numbers, campaign=campaign)

    # Operators (one rule, so that steering is as likely as any one thing Twilio does)

    @rule(
        data=st.data(),
        action=st.sampled_from(
            ["cancel", "retry", "steer", "hang up", "resume", "list", "list for all", "erase"]
        ),
    )
    def an_operator_acts(self, data, action):
        business = data.draw(st.sampled_from(self.businesses))
        number = data.draw(st.sampled_from(self.numbers))
        if action == "cancel":
            request = self._pick(data, CallRequest.objects.all())
            if request:
                self.act(request_cancel, request_id=request.pk)
        elif action == "retry":
            request = self._pick(data, CallRequest.objects.exclude(status="active"))
            if request:
                self.act(request_retry_now, request_id=request.pk)
        elif action == "steer":
            campaign = data.draw(st.sampled_from(self.campaigns))
            status = data.draw(st.sampled_from(["paused", "running", "stopping", "canceled"]))
            hang_up = data.draw(st.booleans())
            self.act(campaign_set_status, campaign_id=campaign.pk, status=status, hang_up=hang_up)
        elif action == "hang up":
            call = self._pick(data, CallLog.objects.filter(status__in=CallLog.LIVE_STATUSES))
            if call:
                self.act(calls_hang_up, call_ids=[call.pk])
        elif action == "resume":
            # What Twilio's refusals paused: one business, or all dialing.
            self.act(business_resume, business_id=business.pk)
            if DialingControl.get().paused:
                self.act(dialing_set, paused=False, reason="")
        elif action.startswith("list"):
            everyone = action == "list for all"
            self.act(do_not_call_add, business_id=None if everyone else business.pk, number=number)
        else:
            try:
                self.act(number_erase, business_id=business.pk, number=number, via="model")
            except ErasureRefused:
                pass

    # Time, the cleanup, the broker

    @rule(seconds=st.sampled_from([1, 20, 61, 130, 610, 3600, 4 * 3600, 11 * 3600]))
    def time_passes(self, seconds):
        self.clock.advance(seconds)

    # The cleanup costs a few dozen queries: a handful of runs makes the point in a history.
    @precondition(lambda self: self.cleanups < 4)
    @rule()
    def cleanup(self):
        self.cleanups += 1
        self.act(cleanup_run)
        assert idle_campaigns() == [], "a campaign with nothing left outlived the cleanup"

    @precondition(lambda self: self.tasks)
    @rule()
    def run_the_oldest_task(self):
        function, key = self.tasks.pop(0)
        self.act(function, key)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), twice=st.booleans())
    def run_a_task(self, data, twice):
        index = data.draw(st.integers(0, len(self.tasks) - 1))
        function, key = self.tasks[index] if twice else self.tasks.pop(index)
        self.act(function, key)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data())
    def lose_a_task(self, data):
        self.tasks.pop(data.draw(st.integers(0, len(self.tasks) - 1)))

    @precondition(lambda self: self.cleanups < 4)
    @rule()
    def settle_down(self):
        """The cleanup, then every nudge it and they queue, until the broker is empty: then
        every request that may be dialed now has been, as far as the slots allow."""
        self.cleanups += 1
        self.act(cleanup_run)
        for _ in range(50):
            if not self.tasks:
                break
            function, key = self.tasks.pop(0)
            self.act(function, key)
        assert idle_campaigns() == []
        assert self._callable_but_waiting() == []

    # Twilio

    @rule(kind=st.sampled_from(sorted(REFUSALS)), placed=st.booleans())
    def twilio_refuses_the_next_create(self, kind, placed):
        # Only an unknown outcome (a 5xx, a timeout) may have placed the call all the same.
        self.twilio.refusals.append((kind, placed and kind == "unknown"))

    @precondition(lambda self: any(c.status in NEXT for c in self.twilio.calls.values()))
    @rule(data=st.data(), steps=st.integers(1, 4), at_once=st.booleans())
    def twilio_moves_a_call_on(self, data, steps, at_once):
        """The next statuses of a call at Twilio (up to `steps`); the callback of the last one
        delivered at once, or left in the outbox with the others for later (out of order,
        twice, or never)."""
        calls = [c for c in self.twilio.calls.values() if c.status in NEXT]
        call = data.draw(st.sampled_from(sorted(calls, key=lambda c: c.sid)))
        for _ in range(steps):
            if call.status not in NEXT:
                break
            self._twilio_step(call, data)
        if at_once and call.outbox:
            self._deliver(call, call.outbox.pop(len(call.outbox) - 1))

    @precondition(lambda self: any(c.status in NEXT for c in self.twilio.calls.values()))
    @rule(data=st.data())
    def twilio_carries_every_call_on(self, data):
        """Ordinary traffic: every live call at Twilio moves one status on, each callback
        delivered in order as it happens."""
        for call in sorted(self.twilio.calls.values(), key=lambda c: c.sid):
            if call.status not in NEXT:
                continue
            self._twilio_step(call, data)
            while call.outbox:
                self._deliver(call, call.outbox.pop(0))

    @precondition(lambda self: any(c.outbox for c in self.twilio.calls.values()))
    @rule(data=st.data(), keep=st.booleans())
    def twilio_delivers_a_callback(self, data, keep):
        """Any callback of the outbox, in any order; kept to be delivered again (a retry)."""
        calls = sorted((c for c in self.twilio.calls.values() if c.outbox), key=lambda c: c.sid)
        call = data.draw(st.sampled_from(calls))
        index = data.draw(st.integers(0, len(call.outbox) - 1))
        self._deliver(call, call.outbox[index] if keep else call.outbox.pop(index))

    def _twilio_step(self, call: TwilioSideCall, data) -> None:
        """One status on at Twilio (a call whose machine got the voicemail ends after it), and
        the machine verdict Twilio posts once a call with detection is answered."""
        if call.hangs_up_after_update and call.status == "in-progress":
            call.move("completed")
        else:
            call.move(data.draw(st.sampled_from(NEXT[call.status])))
        if call.status == "in-progress" and call.machine_detection:
            verdict = data.draw(st.sampled_from(["human", "machine_end_beep", "unknown"]))
            call.outbox.append(("amd", verdict))

    def _deliver(self, call: TwilioSideCall, message: tuple) -> None:
        local = CallLog.objects.filter(public_id=call.public_id).first()
        if local is None:
            return  # the service forgot the call (retention): Twilio's callback finds nothing
        if message[0] == "amd":
            self.act(call_machine_verdict_record, call=local, sid=call.sid, answered_by=message[1])
            return
        _, status, sequence = message
        report = StatusReport(
            status=status,
            sequence_number=sequence,
            duration_seconds=5 if status == "completed" else None,
        )
        self.act(
            call_callback_record,
            call=local,
            sid=call.sid,
            report=report,
            sip_response_code=200,
            params={"CallStatus": status},
        )

    @precondition(lambda self: any(c.outbox for c in self.twilio.calls.values()))
    @rule(data=st.data())
    def twilio_drops_a_callback(self, data):
        calls = sorted((c for c in self.twilio.calls.values() if c.outbox), key=lambda c: c.sid)
        call = data.draw(st.sampled_from(calls))
        call.outbox.pop(data.draw(st.integers(0, len(call.outbox) - 1)))

    @precondition(lambda self: any(c.status == "in-progress" for c in self.twilio.calls.values()))
    @rule(data=st.data())
    def callee_presses_9(self, data):
        calls = [c for c in self.twilio.calls.values() if c.status == "in-progress"]
        call = data.draw(st.sampled_from(sorted(calls, key=lambda c: c.sid)))
        local = CallLog.objects.filter(public_id=call.public_id).first()
        if local is not None:
            self.act(call_keypress_record, call=local, digits="9", call_sid=call.sid)
        call.move("completed")  # the answer hangs up after its confirmation

    # What must hold after every step

    @invariant()
    def the_queue_holds(self):
        if not hasattr(self, "businesses"):
            return
        assert queue_violations() == []
        assert self.twilio.violations == []

    @invariant()
    def every_settling_has_one_webhook_message(self):
        if not hasattr(self, "businesses"):
            return
        hooked = CallRequest.objects.exclude(business__webhook_url="").annotate(
            messages=Count("webhook_messages")
        )
        for pk, messages in hooked.values_list("pk", "messages"):
            expected = self.settlings.get(pk, 0)
            assert messages == expected, f"request {pk} settled {expected} times, {messages} sent"

    # Helpers

    def _pick(self, data, queryset):
        rows = list(queryset.order_by("pk")[:20])
        return data.draw(st.sampled_from(rows)) if rows else None

    def _callable_but_waiting(self) -> list[str]:
        """Queued requests that could be dialed now, of a business with a free slot."""
        if DialingControl.get().paused:
            return []
        waiting = []
        account_live = CallLog.objects.filter(
            direction="outbound", status__in=CallLog.LIVE_STATUSES
        ).count()
        cap = settings.TWILIO_MAX_CONCURRENT_CALLS
        if cap is not None and account_live >= cap:
            return []
        for business in Business.objects.all():
            if not business.can_dial:
                continue
            live = CallLog.objects.filter(
                business=business, direction="outbound", status__in=CallLog.LIVE_STATUSES
            )
            if live.count() >= business.max_concurrent_calls:
                continue
            busy_numbers = set(live.values_list("to_number", flat=True))
            due = CallRequest.objects.filter(
                business=business, status="queued", next_attempt_at__lte=self.clock.now
            ).select_related("campaign")
            for request in due:
                campaign = request.campaign
                if campaign and campaign.status != "running":
                    continue
                if campaign and campaign.concurrency is not None:
                    active = campaign.requests.filter(status="active").count()
                    if active >= campaign.concurrency:
                        continue
                if request.to_number in busy_numbers:
                    continue
                if (
                    DoNotCall.objects.filter(phone_number=request.to_number)
                    .filter(Q(business=business) | Q(business__isnull=True))
                    .exists()
                ):
                    continue
                decision = callee_decision(
                    business=business, campaign=campaign, number=request.to_number
                )
                if decision.allowed:
                    waiting.append(f"request {request.pk} to {request.to_number} waits")
        return waiting


class ModelHarness:
    """What the test patches once, pointing at the history being run."""

    def __init__(self, monkeypatch):
        self.model: QueueModel | None = None
        harness = self

        def now():
            return harness.model.clock.now

        def database_now():
            return Value(harness.model.clock.now, output_field=DateTimeField())

        monkeypatch.setattr("calls.clock.now", now)
        monkeypatch.setattr("django.utils.timezone.now", now)
        for module in ("calls.services.dispatch", "calls.services.cleanup"):
            monkeypatch.setattr(f"{module}.Now", database_now)
        # Calls per second are proven elsewhere (test_dial_tokens); here every create may go.
        monkeypatch.setattr("calls.services.placing.dial_token_take", lambda **kwargs: 1)
        monkeypatch.setattr("calls.services.placing.dial_token_release", lambda **kwargs: None)
        # A dispatch waiting for a throttled request waits on the model's clock.
        monkeypatch.setattr("calls.services.dispatch.time", _ModelTime(self))
        monkeypatch.setattr(
            "calls.services.task_queue.async_task",
            lambda task, key, **kwargs: harness.model.queued(task, key),
        )
        for name in ("call_create", "call_fetch", "call_list", "call_hang_up", "call_update"):
            monkeypatch.setattr(twilio_client, name, _forward(self, name))
        requests_settled.connect(self._settled, dispatch_uid="queue-model")

    def _settled(self, sender, request_ids, **kwargs):
        model = self.model
        transaction.on_commit(lambda: model.settled(request_ids))

    def attach(self, model: QueueModel) -> None:
        self.model = model

    def detach(self) -> None:
        self.model = None

    def close(self) -> None:
        requests_settled.disconnect(dispatch_uid="queue-model")


class _ModelTime:
    def __init__(self, harness):
        self.harness = harness

    def monotonic(self):
        import time

        return time.monotonic()

    def sleep(self, seconds):
        self.harness.model.clock.advance(seconds)


def _task_order(task: tuple) -> tuple:
    function, key = task
    return function.__name__, type(key).__name__, key


def _forward(harness, name):
    def call(**kwargs):
        return getattr(harness.model.twilio, name)(**kwargs)

    return call
