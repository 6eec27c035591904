"""Twilio's price on a fetched call: a decimal string, null until Twilio has priced the call."""

from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from calls.twilio_client import _call, _decimal


def instance(price, price_unit="usd"):
    return SimpleNamespace(
        sid="CA" + "1" * 32,
        status="completed",
        to="+14155550123",
        _from="+14155550100",
        date_created=None,
        duration="70",
        answered_by=None,
        price=price,
        price_unit=price_unit,
    )


def test_a_fetched_call_carries_twilio_s_price_as_a_decimal_and_its_unit_capitalized():
    call = _call(instance("-0.01300"))
    assert (call.price, call.price_unit) == (Decimal("-0.01300"), "USD")


def test_a_call_twilio_has_not_priced_has_no_price():
    assert _call(instance(None, None)).price is None
    assert _call(instance("", "USD")).price is None


@given(st.one_of(st.none(), st.text(max_size=40), st.floats(allow_nan=True)))
def test_whatever_twilio_sends_as_a_price_is_a_finite_decimal_or_none(value):
    price = _decimal(value)
    assert price is None or (isinstance(price, Decimal) and price.is_finite())
