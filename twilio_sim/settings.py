"""The simulator's knobs: timings, outcomes and faults; `POST /_sim/config` changes them."""

import copy
import dataclasses

from twilio_sim.clock import MANUAL, REAL
from twilio_sim.outcomes import OUTCOMES, parse_mix, validate_mix

# Faults that apply to callbacks; each may also be set per destination number.
CALLBACK_FAULTS = (
    "duplicate_callbacks",
    "drop_callbacks",
    "drop_terminal_callback",
    "reorder_callbacks",
)
# "The next N creates" counters; each may also be set per destination number.
CREATE_FAULTS = ("create_429", "create_500", "create_500_placed", "create_hang")
# "refuse": every create to or from the number is refused with that Twilio error code.
# "flagged": calls from the number (a caller ID carriers label spam) are mostly rejected (SIP
# 603) or unanswered.
NUMBER_KEYS = ("outcome", "refuse", "flagged", *CALLBACK_FAULTS, *CREATE_FAULTS)


@dataclasses.dataclass
class SimSettings:
    cps: float = 10.0
    list_delay: float = 2.0
    ring_seconds: float = 1.5
    call_seconds: float = 3.0
    short_call_seconds: float = 1.0
    # Answering-machine detection: the verdict comes this long after answer (AsyncAmd).
    amd_seconds: float = 1.0
    # A machine records this long after its greeting, then hangs up by itself.
    machine_seconds: float = 20.0
    # TwiML sent by a call update plays this long, then the call ends (its <Hangup/>).
    update_play_seconds: float = 1.0
    # Twilio prices a call some time after it ends (the Call resource's price is null until
    # then): this many seconds after, at price_per_minute for each started minute of a completed
    # call, 0 for any other ending.
    price_delay_seconds: float = 1.0
    price_per_minute: float = 0.013
    speed: float = 1.0
    clock: str = REAL
    mix: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    # {"+15550001234": {"outcome": "busy", "drop_terminal_callback": true, "create_500": 1}}
    numbers: dict = dataclasses.field(default_factory=dict)
    # The main account's phone numbers (IncomingPhoneNumbers.json lists them), E.164.
    incoming_numbers: list = dataclasses.field(default_factory=list)
    # Each subaccount's: {"AC...": ["+15550001234", ...]}. A number of one account is refused
    # as the From of another's create (21210), as Twilio does.
    account_numbers: dict = dataclasses.field(default_factory=dict)
    duplicate_callbacks: float = 0.0
    drop_callbacks: float = 0.0
    drop_terminal_callback: bool = False
    reorder_callbacks: float = 0.0
    create_429: int = 0
    create_500: int = 0
    create_500_placed: int = 0
    create_hang: int = 0
    retry_after: float = 0.0
    hang_seconds: float = 15.0
    hang_places_call: bool = True
    callback_timeout: float = 5.0

    def as_dict(self):
        return copy.deepcopy(dataclasses.asdict(self))

    def updated(self, changes):
        """A copy with `changes` applied; ValueError names any unknown or malformed setting."""
        fields = {field.name: field for field in dataclasses.fields(self)}
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}; known: {sorted(fields)}")
        result = copy.deepcopy(self)
        for name, value in changes.items():
            if name == "numbers":
                value = _merged_numbers(result.numbers, value)
            elif name == "account_numbers":
                value = _account_numbers(value)
            elif name == "mix":
                value = (
                    parse_mix(value) if isinstance(value, str) else validate_mix(dict(value or {}))
                )
            else:
                value = _coerced(name, type(getattr(self, name)), value)
            setattr(result, name, value)
        if result.clock not in (REAL, MANUAL):
            raise ValueError(f"clock must be {REAL!r} or {MANUAL!r}")
        if result.cps <= 0 or result.speed <= 0:
            raise ValueError("cps and speed must be > 0")
        return result


def _coerced(name, kind, value):
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a {kind.__name__}") from None


def _account_numbers(value):
    if not isinstance(value, dict) or not all(
        isinstance(numbers, list) and all(isinstance(n, str) for n in numbers)
        for numbers in value.values()
    ):
        raise ValueError("account_numbers must be an object of account SID: [E.164 numbers]")
    return {sid: list(numbers) for sid, numbers in value.items()}


def _merged_numbers(current, changes):
    """Per-number entries merge into what is there; a null entry removes the number."""
    if not isinstance(changes, dict):
        raise ValueError("numbers must be an object keyed by E.164 number")
    numbers = copy.deepcopy(current)
    for number, entry in changes.items():
        if entry is None:
            numbers.pop(number, None)
            continue
        unknown = set(entry) - set(NUMBER_KEYS)
        if unknown:
            raise ValueError(
                f"unknown per-number settings: {sorted(unknown)}; known: {list(NUMBER_KEYS)}"
            )
        if "outcome" in entry and entry["outcome"] not in OUTCOMES:
            raise ValueError(f"unknown outcome {entry['outcome']!r}; known: {list(OUTCOMES)}")
        if "flagged" in entry and not isinstance(entry["flagged"], bool):
            raise ValueError("flagged must be true or false")
        if entry.get("refuse") is not None and not isinstance(entry["refuse"], int):
            raise ValueError("refuse must be a Twilio error code (an integer) or null")
        numbers[number] = {**numbers.get(number, {}), **entry}
    return numbers
