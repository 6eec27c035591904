"""Which Twilio account a business dials through, and which tokens sign an account's webhooks.

A business with no TwilioAccount dials through the settings' main account, as before accounts
existed; so does every business while no TwilioAccount row exists.
"""

import re
from dataclasses import dataclass

from django.conf import settings

from twilio_accounts.models import TwilioAccount

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class Credentials:
    """What a REST request to Twilio is sent under: /Accounts/<account_sid>/… with these."""

    account_sid: str
    auth_token: str


def main_credentials() -> Credentials:
    return Credentials(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)


def account_credentials(account: TwilioAccount | None) -> Credentials:
    if account is None:
        return main_credentials()
    return Credentials(account.account_sid, account.auth_token)


def call_credentials(call) -> Credentials:
    """The credentials of the account `call` was placed through (its business's when it was
    claimed: moving a business to another account never sends its live calls' requests
    elsewhere)."""
    return account_credentials(call.twilio_account if call.twilio_account_id else None)


@dataclass(frozen=True)
class SigningAccount:
    """The account a webhook names by its AccountSid: its row (None: the main account) and the
    tokens its signature may be made with (current, and previous during a rotation)."""

    account: TwilioAccount | None
    tokens: tuple[str, ...]

    @property
    def account_id(self) -> int | None:
        return self.account.pk if self.account else None


def signing_account(account_sid: str) -> SigningAccount | None:
    """The account named by a webhook's AccountSid, or None when no account here has that SID.

    A request without an AccountSid is judged as the main account's (Twilio always sends one;
    only a request signed with the main account's token can pass then, and it may act only on
    the main account's calls)."""
    if not account_sid or account_sid == settings.TWILIO_ACCOUNT_SID:
        tokens = (settings.TWILIO_AUTH_TOKEN, settings.TWILIO_AUTH_TOKEN_PREVIOUS)
        return SigningAccount(None, tuple(t for t in tokens if t))
    if not ACCOUNT_SID.fullmatch(account_sid):
        return None  # not a SID (a NUL would not even reach PostgreSQL as a query parameter)
    account = TwilioAccount.objects.filter(account_sid=account_sid).first()
    if account is None:
        return None
    tokens = (account.auth_token, account.previous_auth_token)
    return SigningAccount(account, tuple(t for t in tokens if t))
