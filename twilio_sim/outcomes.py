"""What happens to a call, decided from its destination number alone (so tests can predict it)."""

import random

COMPLETED = "completed"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
SHORT_CALL = "short-call"
MACHINE = "machine"
RING_TIMEOUT = "ring-timeout"
OPT_OUT = "opt-out"
# The callee's carrier rejects the call (SIP 603 Decline): it ends busy at once.
REJECTED = "rejected"

OUTCOMES = (
    COMPLETED,
    BUSY,
    NO_ANSWER,
    FAILED,
    SHORT_CALL,
    MACHINE,
    RING_TIMEOUT,
    OPT_OUT,
    REJECTED,
)

# A caller number carriers' analytics flagged as spam: most of its calls are rejected or left
# unanswered, a few still reach someone.
FLAGGED_MIX = {REJECTED: 0.5, NO_ANSWER: 0.47, COMPLETED: 0.03}

# Keyed by the last four digits of `To`; documented in README.md.
RULES = {
    "0002": BUSY,
    "0003": NO_ANSWER,
    "0004": FAILED,
    "0005": SHORT_CALL,
    "0006": MACHINE,
    "0007": OPT_OUT,
    "0009": RING_TIMEOUT,
}


def parse_mix(text):
    """`completed=0.6,busy=0.2` -> {"completed": 0.6, "busy": 0.2}."""
    mix = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, _, weight = part.partition("=")
        mix[name.strip()] = float(weight)
    return validate_mix(mix)


def validate_mix(mix):
    unknown = set(mix) - set(OUTCOMES)
    if unknown:
        raise ValueError(f"unknown outcomes in mix: {sorted(unknown)}; known: {list(OUTCOMES)}")
    if any(weight < 0 for weight in mix.values()):
        raise ValueError("mix weights must not be negative")
    if mix and sum(mix.values()) <= 0:
        raise ValueError("mix weights must add up to more than 0")
    return {name: float(weight) for name, weight in mix.items()}


def outcome_for(to, seed=0, mix=None, numbers=None, from_="", draw=None):
    """The planned outcome of a call to `to` from `from_`.

    Order: a caller number marked `flagged` in `numbers` draws from FLAGGED_MIX (with `draw`, a
    random.Random); then a per-number rule from `numbers` ({to: {"outcome": ...}}), then the
    last-four-digit RULES, then a draw from `mix` seeded by (seed, to) so the same pair always
    gives the same outcome, else "completed".
    """
    if ((numbers or {}).get(from_) or {}).get("flagged") and draw is not None:
        return _drawn(FLAGGED_MIX, draw.random())
    override = (numbers or {}).get(to) or {}
    if override.get("outcome"):
        return override["outcome"]
    rule = RULES.get(to[-4:])
    if rule:
        return rule
    if not mix:
        return COMPLETED
    return _drawn(mix, random.Random(f"{seed}:{to}").random())


def _drawn(mix, fraction):
    draw = fraction * sum(mix.values())
    for name, weight in mix.items():
        if draw < weight:
            return name
        draw -= weight
    return name
