"""Subaccounts: created through Twilio's Accounts API for one business, stored encrypted."""

import logging

from django.db import transaction

from calls import twilio_client
from calls.models import Business
from calls.services.locks import business_lock
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
