"""The calling rules as data: one TOML file per country beside this module, read with the
standard library's tomllib (comments allowed, no new dependency).

A file names its `country` and `version`, then one `[[rule]]` table per rule:

    id           unique across all files, e.g. "us-fl-telemarketing"
    jurisdiction "US", "US-FL", "CA", "CA-ON", "GB", "FR" (the file's country or one of its
                 regions, compliance.regions)
    purposes     any of telemarketing, informational, debt_collection
    effective    the date the rule is in force from, in the callee's local calendar
    sources      at least one {citation, url}: the statute or regulator first, then any summary
                 that corroborates it
    hours        optional; calls only in these spans of the callee's local time. Keys every_day,
                 weekdays (Mon-Fri), weekend, mon..sun (a more specific key wins); each a span
                 "08:00-20:00" or a list of them ("24:00" ends at midnight). A day no key names
                 has no calls.
    days_without_calls  optional list of mon..sun
    holidays     optional {calendars = ["US-AL", "FR"], dates = [2026-12-01]}: no calls on the
                 holidays of the `holidays` package's calendar (country or country-subdivision)
                 nor on the listed dates
    cap          optional {calls = 3, hours = 24}: at most `calls` attempts to the number by the
                 business in any rolling `hours`
    quiet_hours_after_conversation  optional: no call for this long after a conversation
    time_zone    optional IANA zone the hours are read in instead of the callee's zones (a
                 statute that names a fixed zone, e.g. Central Standard Time all year)
    note         why a reading was chosen, above all where sources disagree (the stricter wins)

`rule_file_problems()` checks every file (the system check runs it at start-up); `rulebook()`
loads them, and refuses to when any is broken, so no call is judged by a half-read rule.
"""

import re
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import holidays as holiday_calendars

from compliance.purposes import Purpose
from compliance.regions import COUNTRY_NAMES, REGION_CODE, REGION_ZONES, jurisdiction_name

RULES_DIR = Path(__file__).resolve().parent
PURPOSES = tuple(Purpose.values)
PURPOSE_LABELS = {
    "telemarketing": "telemarketing",
    "informational": "informational calls",
    "debt_collection": "debt collection",
}
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How wide each hours key reaches, the narrower applied after (and so over) the wider.
HOURS_KEYS = {
    "every_day": (1, 2, 3, 4, 5, 6, 7),
    "weekdays": (1, 2, 3, 4, 5),
    "weekend": (6, 7),
    **{name: (number,) for number, name in enumerate(DAY_NAMES, start=1)},
}
RULE_KEYS = {
    "id",
    "jurisdiction",
    "purposes",
    "effective",
    "sources",
    "hours",
    "days_without_calls",
    "holidays",
    "cap",
    "quiet_hours_after_conversation",
    "time_zone",
    "note",
}
SPAN = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class RuleFileError(Exception):
    pass


@dataclass(frozen=True)
class Source:
    citation: str
    url: str


@dataclass(frozen=True)
class Rule:
    id: str
    jurisdiction: str
    purposes: frozenset[str]
    effective: date
    sources: tuple[Source, ...]
    file: str
    version: str
    # ISO weekday → the open (start, end) minutes of the day; None: no hours, every minute open.
    hours: dict[int, tuple[tuple[int, int], ...]] | None = field(default=None, hash=False)
    days_without_calls: frozenset[int] = frozenset()
    holiday_calendars: tuple[str, ...] = ()
    holiday_dates: frozenset[date] = frozenset()
    cap_calls: int | None = None
    cap_hours: int | None = None
    quiet_hours: int | None = None
    time_zone: str | None = None
    note: str = ""

    @property
    def name(self) -> str:
        return jurisdiction_name(self.jurisdiction)

    @property
    def citation(self) -> str:
        return self.sources[0].citation

    def hours_text(self) -> str:
        """The hours as people read them: "08:00–20:00 every day", "Mon–Fri 10:00–13:00 and
        14:00–20:00"."""
        if self.hours is None:
            return ""
        groups: list[tuple[list[int], tuple]] = []
        for day in range(1, 8):
            spans = self.hours.get(day, ()) if day not in self.days_without_calls else ()
            if groups and groups[-1][1] == spans and groups[-1][0][-1] == day - 1:
                groups[-1][0].append(day)
            else:
                groups.append(([day], spans))
        parts = []
        for days, spans in groups:
            if not spans:
                continue
            text = " and ".join(f"{_clock(s)}–{_clock(e)}" for s, e in spans)
            if len(days) == 7:
                return text
            label = DAY_NAMES[days[0] - 1].title()
            if len(days) > 1:
                label += "–" + DAY_NAMES[days[-1] - 1].title()
            parts.append(f"{label} {text}")
        return ", ".join(parts) or "no calls"

    def limits_text(self) -> str:
        """Every limit of the rule in one line, for the admin's list."""
        parts = [self.hours_text()] if self.hours is not None else []
        if self.days_without_calls:
            days = ", ".join(DAY_NAMES[d - 1].title() for d in sorted(self.days_without_calls))
            parts.append(f"no calls on {days}")
        if self.holiday_calendars or self.holiday_dates:
            named = ", ".join(self.holiday_calendars)
            dates = ", ".join(d.isoformat() for d in sorted(self.holiday_dates))
            parts.append("no calls on holidays (" + "; ".join(p for p in (named, dates) if p) + ")")
        if self.cap_calls:
            parts.append(f"at most {self.cap_calls} calls in {_duration(self.cap_hours)}")
        if self.quiet_hours:
            parts.append(f"no call within {_duration(self.quiet_hours)} after a conversation")
        if self.time_zone:
            parts.append(f"hours read in {self.time_zone}")
        return "; ".join(parts)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _duration(hours: int) -> str:
    if hours % 24 == 0 and hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} h"


@dataclass(frozen=True)
class RuleFile:
    path: Path
    country: str
    version: str
    rules: tuple[Rule, ...]


def rule_paths() -> list[Path]:
    return sorted(RULES_DIR.glob("*.toml"))


def rule_file_problems(paths=None) -> list[str]:
    """Every problem of every rule file, each naming the file and the rule."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in rule_paths() if paths is None else paths:
        try:
            rule_file = _rule_file_read(path)
        except RuleFileError as error:
            problems.extend(str(error).split("\n"))
            continue
        for rule in rule_file.rules:
            if rule.id in seen:
                problems.append(f"{path.name}: rule {rule.id}: id also used in {seen[rule.id]}")
            seen[rule.id] = path.name
    return problems


@cache
def rulebook() -> tuple[RuleFile, ...]:
    problems = rule_file_problems()
    if problems:
        raise RuleFileError("\n".join(problems))
    return tuple(_rule_file_read(path) for path in rule_paths())


def rules_all() -> tuple[Rule, ...]:
    return tuple(rule for rule_file in rulebook() for rule in rule_file.rules)


@cache
def _rules_by_id() -> dict[str, Rule]:
    return {rule.id: rule for rule in rules_all()}


def rule_by_id(rule_id: str) -> Rule | None:
    """The rule of that id (a request's `held_rule`); None for an id no file has any more."""
    return _rules_by_id().get(rule_id)


def _rule_file_read(path: Path) -> RuleFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RuleFileError(f"{path.name}: cannot be read: {error}") from error
    problems = []
    country = data.get("country")
    version = data.get("version")
    if country not in COUNTRY_NAMES:
        problems.append(f"{path.name}: country {country!r} is not one the rules know")
    if not isinstance(version, str) or not version.strip():
        problems.append(f"{path.name}: no version")
    unknown = set(data) - {"country", "version", "rule"}
    if unknown:
        problems.append(f"{path.name}: unknown keys {sorted(unknown)}")
    entries = data.get("rule")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{path.name}: no [[rule]] tables")
        entries = []
    rules = []
    for position, entry in enumerate(entries, start=1):
        label = f"{path.name}: rule {entry.get('id') or f'#{position}'}"
        rule_problems: list[str] = []
        rule = _rule_parse(entry, country, version, path.name, rule_problems)
        problems.extend(f"{label}: {problem}" for problem in rule_problems)
        if rule is not None and not rule_problems:
            rules.append(rule)
    if problems:
        raise RuleFileError("\n".join(problems))
    return RuleFile(path, country, version, tuple(rules))


def _rule_parse(entry, country, version, file_name, problems: list[str]) -> Rule | None:
    if not isinstance(entry, dict):
        problems.append("is not a table")
        return None
    unknown = set(entry) - RULE_KEYS
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        problems.append("id missing or not lower-case words joined by hyphens")
    jurisdiction = entry.get("jurisdiction")
    if not isinstance(jurisdiction, str) or not REGION_CODE.match(jurisdiction):
        problems.append(f"jurisdiction {jurisdiction!r} is not an ISO 3166 code")
    elif jurisdiction != country and jurisdiction not in REGION_ZONES:
        problems.append(f"jurisdiction {jurisdiction!r} is not a known region")
    elif jurisdiction[:2] != country:
        problems.append(f"jurisdiction {jurisdiction!r} is not in the file's country {country}")
    purposes = entry.get("purposes")
    if not isinstance(purposes, list) or not purposes:
        problems.append("no purposes")
        purposes = []
    for purpose in purposes:
        if purpose not in PURPOSES:
            problems.append(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    effective = entry.get("effective")
    if not isinstance(effective, date):
        problems.append("effective is not a date (YYYY-MM-DD)")
    sources = _sources_parse(entry.get("sources"), problems)
    hours = _hours_parse(entry.get("hours"), problems) if "hours" in entry else None
    days_without = _days_parse(entry.get("days_without_calls", []), problems)
    calendars, dates = _holidays_parse(entry.get("holidays"), problems)
    cap_calls = cap_hours = None
    if "cap" in entry:
        cap = entry["cap"]
        if not isinstance(cap, dict) or set(cap) != {"calls", "hours"}:
            problems.append("cap must be {calls = N, hours = H}")
        elif not all(_positive_int(cap[key]) for key in ("calls", "hours")):
            problems.append("cap's calls and hours must be whole numbers above 0")
        else:
            cap_calls, cap_hours = cap["calls"], cap["hours"]
    quiet = entry.get("quiet_hours_after_conversation")
    if quiet is not None and not _positive_int(quiet):
        problems.append("quiet_hours_after_conversation must be a whole number above 0")
    zone = entry.get("time_zone")
    if zone is not None and zone not in zoneinfo.available_timezones():
        problems.append(f"time_zone {zone!r} is not an IANA zone")
    note = entry.get("note", "")
    if not isinstance(note, str):
        problems.append("note is not text")
    if hours is None and not days_without and not calendars and not dates:
        if cap_calls is None and quiet is None:
            problems.append("limits nothing: give hours, days, holidays, a cap or a quiet period")
    if problems:
        return None
    return Rule(
        id=rule_id,
        jurisdiction=jurisdiction,
        purposes=frozenset(purposes),
        effective=effective,
        sources=sources,
        file=file_name,
        version=version,
        hours=hours,
        days_without_calls=days_without,
        holiday_calendars=calendars,
        holiday_dates=dates,
        cap_calls=cap_calls,
        cap_hours=cap_hours,
        quiet_hours=quiet,
        time_zone=zone,
        note=note.strip(),
    )


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _sources_parse(value, problems) -> tuple[Source, ...]:
    if not isinstance(value, list) or not value:
        problems.append("no sources")
        return ()
    sources = []
    for source in value:
        citation = source.get("citation") if isinstance(source, dict) else None
        url = source.get("url") if isinstance(source, dict) else None
        if not isinstance(citation, str) or not citation.strip():
            problems.append("a source has no citation")
        elif not isinstance(url, str) or not url.startswith(("https://", "http://")):
            problems.append(f"source {citation!r} has no http(s) url")
        else:
            sources.append(Source(citation.strip(), url))
    return tuple(sources)


def _hours_parse(value, problems) -> dict[int, tuple[tuple[int, int], ...]] | None:
    if not isinstance(value, dict) or not value:
        problems.append("hours must be a table of day keys")
        return None
    hours: dict[int, tuple[tuple[int, int], ...]] = {}
    for key in HOURS_KEYS:  # wider keys first, so the narrower ones override them
        if key not in value:
            continue
        spans = _spans_parse(key, value[key], problems)
        for day in HOURS_KEYS[key]:
            hours[day] = spans
    for key in set(value) - set(HOURS_KEYS):
        problems.append(f"hours key {key!r} is not one of {', '.join(HOURS_KEYS)}")
    return hours


def _spans_parse(key, value, problems) -> tuple[tuple[int, int], ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        problems.append(f'hours {key}: give a span like "08:00-20:00" or a list of them')
        return ()
    spans = []
    for text in texts:
        match = SPAN.match(text) if isinstance(text, str) else None
        if not match:
            problems.append(f'hours {key}: {text!r} is not a span like "08:00-20:00"')
            continue
        sh, sm, eh, em = (int(group) for group in match.groups())
        start, end = sh * 60 + sm, eh * 60 + em
        if sm > 59 or em > 59 or not 0 <= start < end <= 24 * 60:
            problems.append(f"hours {key}: {text!r} is out of range (00:00 to 24:00, start first)")
            continue
        spans.append((start, end))
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
        problems.append(f"hours {key}: spans overlap")
    return tuple(spans)


def _days_parse(value, problems) -> frozenset[int]:
    if not isinstance(value, list) or any(day not in DAY_NAMES for day in value):
        problems.append(f"days_without_calls must be a list of {', '.join(DAY_NAMES)}")
        return frozenset()
    return frozenset(DAY_NAMES.index(day) + 1 for day in value)


def _holidays_parse(value, problems) -> tuple[tuple[str, ...], frozenset[date]]:
    if value is None:
        return (), frozenset()
    if not isinstance(value, dict) or set(value) - {"calendars", "dates"}:
        problems.append("holidays must be {calendars = [...], dates = [...]}")
        return (), frozenset()
    calendars = value.get("calendars", [])
    dates = value.get("dates", [])
    for calendar in calendars:
        if not holiday_calendar_known(calendar):
            problems.append(f"holiday calendar {calendar!r} is not in the holidays package")
    if not isinstance(dates, list) or not all(isinstance(day, date) for day in dates):
        problems.append("holiday dates must be dates (YYYY-MM-DD)")
        dates = []
    return tuple(calendars), frozenset(dates)


def holiday_calendar_known(calendar) -> bool:
    if not isinstance(calendar, str):
        return False
    country, _, subdivision = calendar.partition("-")
    supported = holiday_calendars.list_supported_countries()
    if country not in supported:
        return False
    return not subdivision or subdivision in supported[country]


@cache
def _holidays_of(calendar: str, year: int):
    country, _, subdivision = calendar.partition("-")
    return holiday_calendars.country_holidays(country, subdiv=subdivision or None, years=year)


def holiday_name(rule: Rule, day: date) -> str | None:
    """The holiday on `day` that bars the rule's calls, if any."""
    if day in rule.holiday_dates:
        return "a holiday the rule lists"
    for calendar in rule.holiday_calendars:
        name = _holidays_of(calendar, day.year).get(day)
        if name:
            return name
    return None
