"""What each call cost: Twilio puts a price on the Call resource some time (seconds to minutes)
after the call ends, and never in a status callback, so the service asks for it, off every
webhook's path: the cleanup queues `fetch_call_price` for ended calls still unpriced."""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db.models import F

from calls import twilio_client
from calls.models import CallLog
from calls.twilio_client import TwilioError
from twilio_accounts.credentials import call_credentials

logger = logging.getLogger(__name__)

# Twilio is asked this many times at most about one call's price (spaced by the cleanup: 1
# minute doubling to 15, so over about an hour and a quarter); a call never priced by then is
# left unpriced, and the campaign's page counts it as such.
PRICE_CHECK_LIMIT = 8
# A call that ended longer ago than this is not asked about any more, even short of the limit
# (its fetches were lost with a broker, say): the cleanup's query stays on a day of calls.
PRICE_CHECK_WINDOW = timedelta(days=1)
# The column holds 5 decimals and up to 99,999.99999 (a real call costs cents).
PRICE_QUANTUM = Decimal("0.00001")
PRICE_MAX = Decimal("100000")
PRICE_UNIT_LENGTH = CallLog._meta.get_field("price_unit").max_length


def call_price_record(*, call: CallLog, found: twilio_client.TwilioCall) -> bool:
    """Keeps the price Twilio reports for `call`, as a positive cost, if it has one and the call
    has none yet; returns whether it stored it. Twilio's price is final once given, so the first
    one kept wins (the conditional UPDATE makes two fetches racing store it once)."""
    if found.price is None:
        return False
    cost = (-found.price).quantize(PRICE_QUANTUM)
    if abs(cost) >= PRICE_MAX:
        logger.warning("Twilio prices call %s at %s: out of range, not kept", call.pk, found.price)
        return False
    return bool(
        CallLog.objects.filter(pk=call.pk, price__isnull=True).update(
            price=cost, price_unit=found.price_unit[:PRICE_UNIT_LENGTH]
        )
    )


def call_price_fetch(*, call_id: int) -> bool:
    """Asks Twilio for an ended call's price and keeps it; each ask counts against
    PRICE_CHECK_LIMIT, whether Twilio had a price, had none yet, or failed to answer."""
    call = CallLog.objects.filter(pk=call_id).first()
    if call is None or call.price is not None or not call.call_sid or not call.is_terminal:
        return False
    CallLog.objects.filter(pk=call.pk).update(price_checks=F("price_checks") + 1)
    try:
        found = twilio_client.call_fetch(account=call_credentials(call), sid=call.call_sid)
    except TwilioError as error:
        logger.info("Twilio did not give call %s's price: %s", call.pk, error)
        return False
    return call_price_record(call=call, found=found)
