"""The one decision every path asks: may this number be called for this purpose now, and if
not, from when. Pure: no database and no clock; the caller passes the instant and what it knows
of the number's history.

Every candidate jurisdiction's rules for the purpose apply, each judged in its own zones; the
business's or campaign's window applies too (it narrows the rules, never widens them). A call is
allowed only at an instant every one of them allows (fail closed), and the opening is the
earliest such instant within HORIZON. Each constraint can say whether it allows one instant
(`allows`, the plain reading of the rule, which the tests also use as the oracle) and list the
spans it allows over the horizon (`spans`, what the search intersects).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import ValidationError

from compliance.regions import (
    REGION_CODE,
    REGION_ZONES,
    country_regions,
    country_zones,
    jurisdiction_name,
    number_place,
    region_zones,
)
from compliance.rules.book import PURPOSE_LABELS, PURPOSES, Rule, holiday_name, rules_all
from compliance.windows import (
    HORIZON,
    CallingWindow,
    intersect_spans,
    wall_instant,
    zone_info,
)

TINY = timedelta(microseconds=1)


@dataclass(frozen=True)
class Decision:
    """`allowed` now or not; `opening`: the earliest instant every rule and the window allow
    (`at` itself when allowed; None when none within HORIZON); `reason`: which rule or window
    holds the call and until when, in the callee's local time ("" when allowed); `rule`: the
    rule that holds it (None when allowed or when the business's window holds it); `rules`:
    every rule that applied."""

    allowed: bool
    opening: datetime | None
    reason: str = ""
    rule: Rule | None = None
    rules: tuple[Rule, ...] = field(default=(), repr=False)


class _Hours:
    """Hours, days, holidays and the effective date of a rule (or the business's window), in
    every one of its zones."""

    def __init__(self, rule, zones, window=None, shown_in=()):
        self.rule = rule
        self.zones = zones
        # A rule read in a fixed zone (standard time all year) still says "until" in the
        # callee's own time.
        self.shown_in = shown_in or zones
        if rule is None:
            self.hours = {
                day: ((window.start_hour * 60, window.end_hour * 60),)
                if window.start_hour < window.end_hour
                else ()
                for day in window.days
            }
            self.window = window
        else:
            self.hours = rule.hours

    def _in_force(self, day: date) -> bool:
        return self.rule is None or day >= self.rule.effective

    def _closed_day(self, day: date) -> bool:
        rule = self.rule
        if rule is None:
            return day.isoweekday() not in self.hours
        return day.isoweekday() in rule.days_without_calls or holiday_name(rule, day) is not None

    def _day_spans(self, day: date) -> tuple[tuple[int, int], ...]:
        if not self._in_force(day):
            return ((0, 1440),)
        if self._closed_day(day):
            return ()
        if self.hours is None:
            return ((0, 1440),)
        return self.hours.get(day.isoweekday(), ())

    def allows_in(self, instant: datetime, zone: str) -> bool:
        local = instant.astimezone(zone_info(zone))
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self._day_spans(local.date()))

    def allows(self, instant: datetime) -> bool:
        return all(self.allows_in(instant, zone) for zone in self.zones)

    def spans(self, start: datetime, end: datetime) -> list:
        common = [(start, end)]
        for zone in self.zones:
            tz = zone_info(zone)
            day = start.astimezone(tz).date() - timedelta(days=1)
            last = end.astimezone(tz).date() + timedelta(days=1)
            spans = []
            while day <= last:
                for low, high in self._day_spans(day):
                    opens, closes = wall_instant(day, low, tz), wall_instant(day, high, tz)
                    if opens >= closes:
                        continue
                    if spans and spans[-1][1] >= opens:
                        spans[-1] = (spans[-1][0], max(spans[-1][1], closes))
                    else:
                        spans.append((opens, closes))
                day += timedelta(days=1)
            common = intersect_spans(common, spans)
            if not common:
                break
        return common

    def explain(self, instant: datetime, opening: datetime | None, at: datetime) -> str:
        """Why the call is held at `instant` (an instant this constraint forbids)."""
        zone = next((z for z in self.zones if not self.allows_in(instant, z)), self.zones[0])
        local = instant.astimezone(zone_info(zone))
        until = _until(opening, zone if self.shown_in == self.zones else self.shown_in[0], at)
        if self.rule is None:
            return f"outside the calling window ({self.window.describe()}){until}"
        rule = self.rule
        purpose = _purpose_text(rule)
        day = local.date()
        holiday = holiday_name(rule, day)
        if holiday:
            what = f"no {purpose} on holidays ({holiday})"
        elif day.isoweekday() in rule.days_without_calls or (
            rule.hours is not None and not rule.hours.get(day.isoweekday())
        ):
            what = f"no {purpose} on {local:%A}s"
        else:
            what = f"{purpose} {rule.hours_text()}"
        return f"{rule.name}: {what} ({rule.citation}){until}"


class _HeldUntil:
    """A cap or a quiet period: the call is forbidden from `at` (or the rule's effective date)
    until `until`."""

    def __init__(self, rule: Rule, zones, at: datetime, until: datetime, kind: str, count=0):
        self.rule = rule
        self.zones = zones
        self.kind = kind
        self.count = count
        effective = datetime.combine(rule.effective, datetime.min.time(), UTC)
        self.start = max(at, effective)
        self.until = until

    def allows(self, instant: datetime) -> bool:
        return not self.start <= instant < self.until

    def spans(self, start: datetime, end: datetime) -> list:
        spans = [(start, min(end, self.start)), (max(start, self.until), end)]
        return [(low, high) for low, high in spans if low < high]

    def explain(self, instant: datetime, opening: datetime | None, at: datetime) -> str:
        rule = self.rule
        until = _until(opening, self.zones[0], at)
        if self.kind == "cap":
            what = f"{rule.cap_calls} calls in {_hours_text(rule.cap_hours)} to this number"
        else:
            what = f"no call within {_hours_text(rule.quiet_hours)} after a conversation"
        return f"{rule.name}: {what} ({rule.citation}){until}"


def _hours_text(hours: int) -> str:
    return f"{hours // 24} days" if hours % 24 == 0 and hours >= 48 else f"{hours} h"


def _purpose_text(rule: Rule) -> str:
    return " and ".join(PURPOSE_LABELS[p] for p in PURPOSES if p in rule.purposes)


def _until(opening: datetime | None, zone: str, at: datetime) -> str:
    if opening is None:
        return f", with no opening in the next {HORIZON.days} days"
    tz = zone_info(zone)
    local = opening.astimezone(tz)
    if local.date() == at.astimezone(tz).date():
        return f" until {local:%H:%M %Z}"
    return f" until {local:%a %H:%M %Z}"


def callee_jurisdictions(
    number: str, region: str | None = None, fallback_zone: str = "UTC"
) -> dict[str, tuple[str, ...]]:
    """Each jurisdiction whose rules apply to a call to `number` (and a callee living in the
    ISO 3166-2 `region`, when known), with the zones its rules are judged in. The number's own
    country and region are judged in the number's zones; a US or Canadian number whose region
    cannot be told (toll-free, non-geographic, a shared area code) and no address region in its
    country brings every region of that country, each in its own zones; an address region
    brings itself and its country, in its zones; a country alone, or a region we have no table
    for, brings every region of that country."""
    place = number_place(number)
    found: dict[str, set[str]] = {}

    def add(code: str, zones: Iterable[str]) -> None:
        found.setdefault(code, set()).update(zones)

    if place.country:
        zones = place.zones or country_zones(place.country) or (fallback_zone,)
        add(place.country, zones)
        if place.region:
            add(place.region, zones)
        elif not (region and region[:2] == place.country):
            # Where the callee is cannot be told from the number, nor from an address in its
            # country: anywhere in the country, so every region's rules, each in its zones.
            for code in country_regions(place.country):
                add(code, region_zones(code))
    if region in REGION_ZONES:
        add(region[:2], region_zones(region))
        add(region, region_zones(region))
    elif region:
        # A country alone, or a region we have no table for: anywhere in that country.
        add(region[:2], country_zones(region[:2]) or (fallback_zone,))
        for code in country_regions(region[:2]):
            add(code, region_zones(code))
    return {code: tuple(sorted(zones)) for code, zones in found.items()}


def region_problem(region: str) -> str:
    """Why `region` cannot be used as a callee's address region ("" when it can)."""
    if not REGION_CODE.match(region):
        return "Give an ISO 3166-2 code such as US-FL."
    if region not in REGION_ZONES and not country_zones(region):
        return f"{region} is not a region the calling rules know."
    return ""


def validate_region(region: str) -> None:
    """The model validator of an address region (Lead.region)."""
    problem = region_problem(region)
    if problem:
        raise ValidationError(problem, code="region")


def call_decision(
    *,
    number: str,
    purpose: str,
    at: datetime,
    region: str | None = None,
    window: CallingWindow | None = None,
    attempts: Iterable[datetime] = (),
    conversations: Iterable[datetime] = (),
    fallback_zone: str = "UTC",
) -> Decision:
    """Whether `number` (E.164) may be called for `purpose` at `at` (aware), and if not, when.

    region: the callee's address region (ISO 3166-2, e.g. "US-FL"), when known.
    window: the business's or campaign's calling window (08:00-21:00 every day when None); it
        is judged in every zone of the callee and narrows the rules, never widens them.
    attempts: when the earlier creates to this number by this business were sent (any outcome),
        i.e. the `dial_started_at` of its outbound CallLogs to the number; for the caps.
    conversations: when its calls to this number answered by a person completed; for the quiet
        periods after a conversation.
    fallback_zone: the zone for a number nothing places (the business's time zone).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if at.tzinfo is None:
        raise ValueError("`at` must be an aware datetime")
    at = at.astimezone(UTC)
    jurisdictions = callee_jurisdictions(number, region, fallback_zone)
    if not jurisdictions:
        return Decision(False, None, "not a phone number the calling rules can place")
    constraints, rules = _constraints(
        jurisdictions, purpose, at, window or CallingWindow(), list(attempts), list(conversations)
    )
    if all(constraint.allows(at) for constraint in constraints):
        return Decision(True, at, rules=rules)
    end = at + HORIZON
    common = [(at, end)]
    own_spans = []
    for constraint in constraints:
        spans = constraint.spans(at, end)
        own_spans.append(spans)
        common = intersect_spans(common, spans)
    opening = common[0][0] if common else None
    holder, instant = _holder(constraints, own_spans, opening, at)
    return Decision(
        False,
        opening,
        holder.explain(instant, opening, at),
        rule=holder.rule,
        rules=rules,
    )


def _constraints(jurisdictions, purpose, at, window, attempts, conversations):
    zones_of_rule: dict[Rule, set[str]] = {}
    for rule in rules_all():
        if purpose in rule.purposes and rule.jurisdiction in jurisdictions:
            zones = {rule.time_zone} if rule.time_zone else jurisdictions[rule.jurisdiction]
            zones_of_rule.setdefault(rule, set()).update(zones)
    every_zone = tuple(sorted({z for zones in jurisdictions.values() for z in zones}))
    constraints: list = [_Hours(None, every_zone, window)]
    for rule, zones in zones_of_rule.items():
        zones = tuple(sorted(zones))
        if rule.hours is not None or rule.days_without_calls or rule.holiday_calendars:
            constraints.append(_Hours(rule, zones, shown_in=jurisdictions[rule.jurisdiction]))
        elif rule.holiday_dates:
            constraints.append(_Hours(rule, zones, shown_in=jurisdictions[rule.jurisdiction]))
        if rule.cap_calls:
            period = timedelta(hours=rule.cap_hours)
            recent = sorted((a for a in attempts if at - period < a <= at), reverse=True)
            if len(recent) >= rule.cap_calls:
                until = recent[rule.cap_calls - 1] + period
                constraints.append(
                    _HeldUntil(
                        rule, jurisdictions[rule.jurisdiction], at, until, "cap", len(recent)
                    )
                )
        if rule.quiet_hours:
            quiet = timedelta(hours=rule.quiet_hours)
            ends = [c + quiet for c in conversations if c <= at < c + quiet]
            if ends:
                constraints.append(
                    _HeldUntil(rule, jurisdictions[rule.jurisdiction], at, max(ends), "quiet")
                )
    rules = tuple(sorted(zones_of_rule, key=lambda rule: (len(rule.jurisdiction), rule.id)))
    return constraints, rules


def _holder(constraints, own_spans, opening, at):
    """The constraint that holds the call, and the instant to explain it at: of those that
    forbid `at`, the one whose own next opening comes last (none at all: last of all), then a
    rule before the business's window and a region's before its country's."""
    far = at + 2 * HORIZON

    def key(entry):
        position, constraint, spans = entry
        rule = constraint.rule
        return (
            spans[0][0] if spans else far,
            rule is not None,
            len(rule.jurisdiction) if rule else 0,
            -position,
        )

    closed = [
        (position, constraint, spans)
        for position, (constraint, spans) in enumerate(zip(constraints, own_spans, strict=True))
        if not constraint.allows(at)
    ]
    _, constraint, _ = max(closed, key=key)
    return constraint, at


def jurisdiction_names(jurisdictions) -> str:
    return ", ".join(jurisdiction_name(code) for code in jurisdictions)
