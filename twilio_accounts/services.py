"""Subaccounts: created through Twilio's Accounts API for one business, stored encrypted."""

import logging

from django.conf import settings
from django.db import transaction

from calls import twilio_client
from calls.models import Business, CallLog
from calls.services.locks import business_lock
from calls.services.operator_actions import ActionResult
from twilio_accounts.models import TwilioAccount

logger = logging.getLogger(__name__)


class SubaccountRefused(Exception):
    """Why no subaccount was made for the business (nothing was created at Twilio)."""


def business_subaccount_create(*, business_id: int, calls_per_second: int = 1) -> TwilioAccount:
    """Creates a Twilio subaccount named after the business (POST /2010-04-01/Accounts.json
    with the main account's credentials), stores its SID and auth token, and moves the business
    onto it: its next calls are placed, paced and verified through the subaccount.

    Refused, before anything is sent to Twilio, for an unknown business or one already on an
    account of its own. A Twilio error (TwilioError) leaves everything as it was."""
    business = Business.objects.filter(pk=business_id).first()
    if business is None:
        raise SubaccountRefused(f"No business with id {business_id}.")
    if business.twilio_account_id is not None:
        raise SubaccountRefused(
            f"{business.name} is already on Twilio account {business.twilio_account.account_sid}."
        )
    if calls_per_second < 1:
        raise SubaccountRefused("Calls per second must be 1 or more.")
    created = twilio_client.subaccount_create(friendly_name=business.name[:64])
    logger.info("Created Twilio subaccount %s for business %s", created.sid, business_id)
    with transaction.atomic():
        business = business_lock(business_id=business_id)
        account = TwilioAccount.objects.create(
            account_sid=created.sid,
            auth_token=created.auth_token,
            friendly_name=created.friendly_name[:64],
            calls_per_second=calls_per_second,
        )
        # Its own calls keep the account they were placed through (CallLog.twilio_account).
        Business.objects.filter(pk=business.pk).update(twilio_account=account)
    return account


def business_subaccount_close(*, business_id: int) -> TwilioAccount:
    """Closes, at Twilio, the subaccount a deactivated business dialed through (the Accounts
    API, with the main account's credentials), and records it closed: nothing dials through it
    again. Closing is for good at Twilio (its numbers are released), so it is refused, before
    Twilio is asked, for an unknown business, one still active, one on the settings' main
    account, an account other businesses still use, and an account with live calls."""
    business = Business.objects.select_related("twilio_account").filter(pk=business_id).first()
    if business is None:
        raise SubaccountRefused(f"No business with id {business_id}.")
    account = business.twilio_account
    if account is None or account.account_sid == settings.TWILIO_ACCOUNT_SID:
        raise SubaccountRefused(
            f"{business.name} dials through the main account, which is never closed here."
        )
    if business.is_active:
        raise SubaccountRefused(f"{business.name} is active: deactivate it first.")
    if account.status == TwilioAccount.Status.CLOSED:
        raise SubaccountRefused(f"Twilio account {account.account_sid} is already closed.")
    others = Business.objects.filter(twilio_account=account).exclude(pk=business.pk)
    if others.exists():
        names = ", ".join(others.order_by("name").values_list("name", flat=True)[:5])
        raise SubaccountRefused(
            f"Twilio account {account.account_sid} is still used by other businesses: {names}."
        )
    live = CallLog.objects.filter(twilio_account=account, status__in=CallLog.LIVE_STATUSES)
    if live.exists():
        raise SubaccountRefused(
            f"Twilio account {account.account_sid} has {live.count()} live call(s): "
            "close it once they have ended."
        )
    closed = twilio_client.subaccount_close(sid=account.account_sid)
    logger.info("Closed Twilio subaccount %s of business %s", account.account_sid, business_id)
    TwilioAccount.objects.filter(pk=account.pk).update(
        status=TwilioAccount.Status.CLOSED,
        paused_reason=f"Closed at Twilio ({closed.status}) with business {business.name}.",
    )
    account.refresh_from_db()
    return account


def businesses_subaccount_close(*, business_ids) -> ActionResult:
    """The admin's close: business_subaccount_close for each business, a refusal (or Twilio's
    error) kept as the reason its subaccount stays open."""
    result = ActionResult()
    for business_id in business_ids:
        try:
            business_subaccount_close(business_id=business_id)
        except SubaccountRefused as error:
            result += ActionResult.refused(f"stayed open ({str(error).rstrip('.')})")
        except twilio_client.TwilioError as error:
            result += ActionResult.refused(f"stayed open (Twilio refused to close it: {error})")
        else:
            result.changed += 1
    return result
