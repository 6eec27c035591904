from django.core.management.base import BaseCommand, CommandError

from calls.twilio_client import TwilioError
from twilio_accounts.services import SubaccountRefused, business_subaccount_close


class Command(BaseCommand):
    help = (
        "Close, at Twilio (the Accounts API, Status=closed, with the main account's "
        "credentials), the subaccount of one deactivated business, and record it closed. "
        "Refused for the main account, an account other businesses still use, or one with "
        "live calls. Closing is for good: Twilio releases the subaccount's numbers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, required=True, help="Business id.")

    def handle(self, *args, business, **options):
        try:
            account = business_subaccount_close(business_id=business)
        except SubaccountRefused as error:
            raise CommandError(str(error)) from error
        except TwilioError as error:
            raise CommandError(f"Twilio refused to close the subaccount: {error}") from error
        self.stdout.write(f"Closed the Twilio subaccount of business {business}:")
        self.stdout.write(account.account_sid)
