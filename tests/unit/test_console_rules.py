"""Pure rules of the operator's console: how a search term becomes a number, how a CSV cell is
kept from running as a formula, how an axis is topped, how a wait reads."""

from datetime import timedelta

import pytest

from calls.admin.exports import cell
from calls.admin.search import number_search_term
from calls.charts import _nice_max
from calls.templatetags.console import duration_text


@pytest.mark.parametrize(
    ("term", "searched"),
    [
        ("(415) 555-0004", "+14155550004"),
        ("415.555.0004", "+14155550004"),
        ("+1 415 555 0004", "+14155550004"),
        ("+44 20 7946 0958", "+442079460958"),
        ("555-0004", "5550004"),
        ("+1 415", "+1415"),
        ("CA0123", "CA0123"),
        ("Ann Lee", "Ann Lee"),
        ("12", "12"),
    ],
)
def test_a_search_term_becomes_a_number_only_when_it_reads_as_one(term, searched):
    assert number_search_term(term) == searched


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("+14155550123", "+14155550123"),
        ("-3", "-3"),
        ("Ann", "Ann"),
        (None, ""),
        (42, "42"),
    ],
)
def test_a_csv_cell_that_would_run_as_a_formula_is_quoted(value, written):
    assert cell(value) == written


@pytest.mark.parametrize(
    ("value", "top"), [(0.3, 0.5), (0.1, 0.1), (1, 1), (1.2, 2), (3, 5), (7, 10), (11, 20)]
)
def test_an_axis_tops_at_one_two_or_five_times_a_power_of_ten(value, top):
    assert _nice_max(value) == top


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (None, "-"),
        (timedelta(seconds=42), "42 s"),
        (timedelta(minutes=3, seconds=5), "3 min 05 s"),
        (timedelta(hours=2, minutes=7), "2 h 07 min"),
    ],
)
def test_a_wait_reads_in_the_largest_units(delta, text):
    assert duration_text(delta) == text
