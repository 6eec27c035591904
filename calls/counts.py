"""One definition of every count an operator reads about calls: attempt, placed, reached a person,
reached a machine, ended (and answered, for the answer rate). The campaign page, the dashboard,
the calls' CSV export, /metrics and the API all count through these conditions, so the same
calls give the same figures everywhere (tests/integration/test_counts_agree.py).

- **placed**: Twilio accepted the create: the call has a SID. A call Twilio refused (a 4xx on
  create), one never sent, and one Twilio's list proved never placed have none.
- **attempt**: an outbound call that was placed or may still be: placed, or pending with its
  create in flight or its outcome unknown. A refused call is not an attempt; an in-flight one
  that turns out never placed stops being one.
- **reached a machine**: placed, and Twilio's answering-machine detection said a machine (or a
  fax) answered.
- **reached a person**: placed and answered (an answer time, or `completed`), and not a machine.
- **ended**: placed and in a final status. A refused call is never an ended call.
- **answered** (for the answer rate only): ended and answered, by a person or a machine.

Every condition is on the call's own columns, so it is one `Count(filter=...)` per figure in
whatever grouped query reads the calls, and a boolean column in an export.
"""

from dataclasses import dataclass

from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from calls.models import CallLog

Status = CallLog.Status

PLACED = Q(call_sid__isnull=False)
IN_FLIGHT = Q(call_sid__isnull=True, status=Status.PENDING)
ATTEMPT = Q(direction=CallLog.Direction.OUTBOUND) & (PLACED | IN_FLIGHT)
MACHINE = Q(answered_by__in=CallLog.MACHINE_ANSWERS)
ANSWERED = PLACED & (Q(answered_at__isnull=False) | Q(status=Status.COMPLETED))
REACHED_MACHINE = PLACED & MACHINE
REACHED_PERSON = ANSWERED & ~MACHINE
ENDED = PLACED & Q(status__in=CallLog.TERMINAL_STATUSES)

DEFINITIONS = {
    "attempts": ATTEMPT,
    "placed": PLACED,
    "reached_person": REACHED_PERSON,
    "reached_machine": REACHED_MACHINE,
    "ended": ENDED,
    "answered": ENDED & ANSWERED,
}
# What people read, in this order, where the figures are shown side by side.
LABELS = {
    "attempts": "Attempts",
    "placed": "Placed",
    "reached_person": "Reached a person",
    "reached_machine": "Reached a machine",
    "ended": "Ended",
}


@dataclass(frozen=True)
class CallCounts:
    attempts: int = 0
    placed: int = 0
    reached_person: int = 0
    reached_machine: int = 0
    ended: int = 0
    answered: int = 0

    @property
    def answer_rate(self) -> float | None:
        """Answered (by a person or a machine) among the ended calls; None with none ended."""
        return self.answered / self.ended if self.ended else None

    def shown(self) -> list[tuple[str, str, int]]:
        """(name, label, figure) for each figure people read, in LABELS' order."""
        return [(name, label, getattr(self, name)) for name, label in LABELS.items()]


def count_aggregates() -> dict:
    """Keyword arguments for `aggregate` or `annotate` over CallLog rows: one Count per figure."""
    return {name: Count("pk", filter=condition) for name, condition in DEFINITIONS.items()}


def call_counts(calls) -> CallCounts:
    """The figures of a CallLog queryset, in one query."""
    return CallCounts(**calls.aggregate(**count_aggregates()))


def call_counts_by(calls, field: str) -> dict:
    """The figures of a CallLog queryset per value of `field` (e.g. business_id), in one query."""
    rows = calls.values(field).annotate(**count_aggregates()).order_by()
    return {row.pop(field): CallCounts(**row) for row in rows}


def with_count_flags(calls):
    """`calls` with a boolean per figure (`is_attempts`, `is_placed`, ...) computed by the
    database from the same conditions, for exports that list calls one by one."""
    return calls.annotate(
        **{
            f"is_{name}": ExpressionWrapper(condition, output_field=BooleanField())
            for name, condition in DEFINITIONS.items()
        }
    )
