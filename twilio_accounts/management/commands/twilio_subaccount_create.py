from django.core.management.base import BaseCommand, CommandError

from calls.twilio_client import TwilioError
from twilio_accounts.services import SubaccountRefused, business_subaccount_create


class Command(BaseCommand):
    help = (
        "Create a Twilio subaccount for one business (Twilio's Accounts API, with the main "
        "account's credentials), store its SID and auth token (encrypted), and dial that "
        "business's calls through it. Prints the subaccount's SID on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, required=True, help="Business id.")
        parser.add_argument(
            "--calls-per-second",
            type=int,
            default=1,
            help="The subaccount's calls per second at Twilio (1 unless Twilio raised it).",
        )

    def handle(self, *args, business, calls_per_second, **options):
        try:
            account = business_subaccount_create(
                business_id=business, calls_per_second=calls_per_second
            )
        except SubaccountRefused as error:
            raise CommandError(str(error)) from error
        except TwilioError as error:
            raise CommandError(f"Twilio refused the subaccount: {error}") from error
        self.stdout.write(f"Business {business} now dials through subaccount:")
        self.stdout.write(account.account_sid)
