import sys
import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from calls.models import Business, CallLog, CallRequest, Campaign
from calls.outcomes import outcome_reason
from calls.services.do_not_call import OPT_OUT_DIGIT, OPT_OUT_REASON
from calls.services.enqueue import enqueue_outbound_calls
from compliance.models import DoNotCall

# The local Twilio picks each call's outcome by the last four digits of the number called
# (twilio_sim/README.md): 0002 busy, 0003 no answer, 0004 failed, 0005 a short call, 0006 an
# answering machine (left the campaign's voicemail), 0007 a callee who presses 9 to opt out.
DEMO_SUFFIXES = ["0101", "0002", "0102", "0003", "0103", "0005", "0006", "0004", "0007", "0104"]


class Command(BaseCommand):
    help = (
        "Queue N demo calls on the running stack (web, worker, local Twilio), show their progress "
        "live, and exit 0 once every call has reached a final state."
    )

    def add_arguments(self, parser):
        parser.add_argument("--calls", type=int, default=10)
        parser.add_argument("--timeout", type=float, default=170, help="Seconds to wait.")

    def handle(self, *args, calls, timeout, **options):
        business, _ = Business.objects.update_or_create(
            phone_number="+14155550100",
            defaults={
                "name": "Demo Plumbing",
                "max_concurrent_calls": 5,
                "max_attempts": 1,
                "is_active": True,
                "paused_reason": "",
                # It calls the local Twilio, not people: a window open all day lets the demo
                # run at any hour.
                "window_start_hour": 0,
                "window_end_hour": 24,
            },
        )
        # Every ten calls use the next exchange, so the numbers stay distinct.
        numbers = [f"+1415{555 + n // 10}{DEMO_SUFFIXES[n % 10]}" for n in range(calls)]
        # The last demo's callee who pressed 9 listed its number; this one calls it again. Only
        # that row goes: whatever an operator listed stays listed (and its number is refused).
        DoNotCall.objects.filter(
            business=business,
            phone_number__in=numbers,
            created_by=None,
            reason__startswith=OPT_OUT_REASON.split("{")[0],
        ).delete()
        campaign = Campaign.objects.create(
            business=business,
            name=f"demo {timezone.now():%Y-%m-%d %H:%M:%S.%f}",
            machine_detection=True,
            voicemail_text="Hello from Demo Plumbing. Please call us back.",
            offers_opt_out=True,
        )
        results = enqueue_outbound_calls(business=business, numbers=numbers, campaign=campaign)
        refused = [r for r in results if not r.request]
        for result in refused:
            self.stdout.write(f"Not calling {result.number}: {result.refused}")
        calls -= len(refused)
        if not calls:
            raise CommandError("Every demo call was refused (see above).")
        self.stdout.write(
            f"Queued {calls} calls for {business.name} (at most 5 at once); "
            f"watch them at {settings.PUBLIC_BASE_URL}/admin/calls/calllog/"
        )
        progress = Progress(self.stdout)
        requests = CallRequest.objects.filter(campaign=campaign)
        deadline = time.monotonic() + timeout
        shown = ""
        while True:
            statuses = Counter(
                CallLog.objects.filter(request__campaign=campaign).values_list("status", flat=True)
            )
            waiting = requests.filter(status=CallRequest.Status.QUEUED).count()
            line = "  ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
            line = f"[demo] waiting: {waiting}  {line}"
            if line != shown:
                progress.show(line)
                shown = line
            final = sum(n for status, n in statuses.items() if status in CallLog.TERMINAL_STATUSES)
            open_requests = requests.filter(status__in=CallRequest.OPEN_STATUSES).count()
            if final >= calls and open_requests == 0:
                break
            if time.monotonic() > deadline:
                progress.done()
                self._table(campaign)
                self.stderr.write(
                    f"Only {final} of {calls} calls reached a final state in {timeout:.0f} s: "
                    "is the worker (manage.py qcluster) running, and the local Twilio?"
                )
                sys.exit(1)
            time.sleep(0.5)
        progress.done()
        self._table(campaign)
        self.stdout.write(self.style.SUCCESS(f"All {calls} calls reached a final state."))

    def _table(self, campaign):
        self.stdout.write(f"{'number':<14} {'outcome':<12} {'duration':>8}  {'reason'}")
        calls = CallLog.objects.filter(request__campaign=campaign).select_related("request")
        for call in calls.order_by("to_number", "id"):
            duration = f"{call.duration_seconds} s" if call.duration_seconds is not None else "-"
            self.stdout.write(
                f"{call.to_number:<14} {call.status:<12} {duration:>8}  {_reason(call)}".rstrip()
            )


class Progress:
    """The demo's progress: rewritten in place on one line in a terminal, a line per change when
    the output goes to a file or a pipe (where a carriage return would only garble it)."""

    def __init__(self, stdout):
        self.stdout = stdout
        self.in_place = stdout.isatty()
        self.pending = False

    def show(self, line: str) -> None:
        if not self.in_place:
            self.stdout.write(line)
            return
        # Back to the line's start, the new text, then erase whatever the longer old one left.
        self.stdout.write(f"\r{line}\x1b[K", ending="")
        self.stdout.flush()
        self.pending = True

    def done(self) -> None:
        if self.pending:
            self.stdout.write("")
            self.pending = False


def _reason(call: CallLog) -> str:
    """Why a call did not complete: Twilio's error, and what became of its request; for one that
    did, whether a machine answered or the callee opted out."""
    if call.status == CallLog.Status.COMPLETED:
        if call.digits == OPT_OUT_DIGIT:
            return f"Pressed {OPT_OUT_DIGIT}: on the do-not-call list now."
        return outcome_reason(call)
    why = call.request.last_error if call.request else ""
    return f"{call.error_code} {why or call.error_message}".strip()
