"""The rule files: every shipped file is valid and sourced, and a broken one is an Error at
start-up that names the file and the rule."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from compliance import checks
from compliance.rules import book, rule_file_problems, rules_all

SOURCES = 'sources = [{ citation = "Fla. Stat. 501.616(6)", url = "https://example.org/501.616" }]'
GOOD_RULE = (
    """
[[rule]]
id = "xx-good"
jurisdiction = "US-FL"
purposes = ["telemarketing"]
effective = 2021-07-01
hours = { every_day = "08:00-20:00" }
"""
    + SOURCES
    + """
"""
)


def write(tmp_path, text, name="us.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_shipped_rule_file_is_valid_with_a_version_and_sources():
    assert rule_file_problems() == []
    files = {rule_file.path.name: rule_file for rule_file in book.rulebook()}
    assert set(files) == {"us.toml", "ca.toml", "gb.toml", "fr.toml"}
    assert all(rule_file.version for rule_file in files.values())
    for rule in rules_all():
        assert rule.sources and all(s.url.startswith("http") for s in rule.sources), rule.id
        assert rule.purposes and rule.effective


def test_the_required_rules_are_there():
    ids = {rule.id for rule in rules_all()}
    assert {
        "us-tcpa-telemarketing-hours",
        "us-fdcpa-hours",
        "us-reg-f-call-frequency",
        "us-fl-telemarketing",
        "us-ok-telemarketing",
        "us-md-telemarketing",
        "us-al-telemarketing",
        "us-la-telemarketing",
        "us-ms-telemarketing",
        "us-ky-telemarketing",
        "us-mn-automatic-dialing",
        "ca-crtc-telemarketing",
        "gb-dma-telemarketing",
        "fr-prospection-telephonique",
    } <= ids


def test_a_good_file_has_no_problems(tmp_path):
    path = write(tmp_path, 'country = "US"\nversion = "1"\n' + GOOD_RULE)
    assert rule_file_problems([path]) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('"telemarketing"]', '"sales"]'), "rule xx-good: purpose 'sales' is not one of"),
        (
            ('"08:00-20:00"', '"08:00-25:00"'),
            "rule xx-good: hours every_day: '08:00-25:00' is out of range",
        ),
        (
            ('"08:00-20:00"', '"20:00-08:00"'),
            "rule xx-good: hours every_day: '20:00-08:00' is out of range",
        ),
        (('"08:00-20:00"', '"8am"'), "rule xx-good: hours every_day: '8am' is not a span"),
        (
            ("effective = 2021-07-01", 'effective = "last year"'),
            "rule xx-good: effective is not a date",
        ),
        (('"US-FL"', '"US-ZZ"'), "rule xx-good: jurisdiction 'US-ZZ' is not a known region"),
        (
            ('"US-FL"', '"CA-ON"'),
            "rule xx-good: jurisdiction 'CA-ON' is not in the file's country US",
        ),
        (
            ('url = "https://example.org/501.616"', 'url = ""'),
            "rule xx-good: source 'Fla. Stat. 501.616(6)' has no http(s) url",
        ),
        (
            (
                SOURCES,
                "",
            ),
            "rule xx-good: no sources",
        ),
        (
            ('hours = { every_day = "08:00-20:00" }', 'holidays = { calendars = ["US-ZZ"] }'),
            "rule xx-good: holiday calendar 'US-ZZ' is not in the holidays package",
        ),
        (
            ('hours = { every_day = "08:00-20:00" }', "cap = { calls = 0, hours = 24 }"),
            "rule xx-good: cap's calls and hours must be whole numbers above 0",
        ),
        (
            ('hours = { every_day = "08:00-20:00" }', 'time_zone = "Mars/Olympus"'),
            "rule xx-good: time_zone 'Mars/Olympus' is not an IANA zone",
        ),
    ],
)
def test_a_broken_rule_is_named_with_its_file(tmp_path, change, problem):
    path = write(tmp_path, 'country = "US"\nversion = "1"\n' + GOOD_RULE.replace(*change))
    problems = rule_file_problems([path])
    assert any(p.startswith("us.toml: ") and problem in p for p in problems), problems


def test_a_file_without_a_version_or_known_country_is_refused(tmp_path):
    path = write(tmp_path, 'country = "ZZ"\n' + GOOD_RULE)
    problems = rule_file_problems([path])
    assert "us.toml: country 'ZZ' is not one the rules know" in problems
    assert "us.toml: no version" in problems


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    path = write(tmp_path, "country = \n")
    assert rule_file_problems([path])[0].startswith("us.toml: cannot be read")


def test_the_same_rule_id_in_two_files_is_refused(tmp_path):
    first = write(tmp_path, 'country = "US"\nversion = "1"\n' + GOOD_RULE, "a.toml")
    second = write(tmp_path, 'country = "US"\nversion = "1"\n' + GOOD_RULE, "b.toml")
    assert rule_file_problems([first, second]) == ["b.toml: rule xx-good: id also used in a.toml"]


def test_the_system_check_stops_start_up_on_a_broken_file(tmp_path, monkeypatch):
    write(
        tmp_path,
        'country = "US"\nversion = "1"\n' + GOOD_RULE.replace('"08:00-20:00"', '"08:00-25:00"'),
    )
    monkeypatch.setattr(book, "RULES_DIR", tmp_path)
    errors = checks.rule_files_check()
    assert [error.id for error in errors] == ["compliance.E001"]
    assert errors[0].msg.startswith("us.toml: rule xx-good: hours every_day")
    with pytest.raises(SystemCheckError, match="us.toml: rule xx-good"):
        call_command("check")


def test_the_system_check_passes_on_the_shipped_files():
    assert checks.rule_files_check() == []
