from django.core.management.base import BaseCommand, CommandError

from calls.models import Business
from calls.services.caller_numbers import caller_numbers_sync
from calls.twilio_client import TwilioError


class Command(BaseCommand):
    help = (
        "Import a business's caller numbers from its Twilio account (IncomingPhoneNumbers): new "
        "voice numbers join its pool, synced numbers gone from Twilio are retired."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, required=True, help="Business id.")

    def handle(self, *args, business, **options):
        if not Business.objects.filter(pk=business).exists():
            raise CommandError("No such business.")
        try:
            result = caller_numbers_sync(business_id=business)
        except TwilioError as error:
            raise CommandError(f"Twilio could not list the numbers: {error}") from error
        for label, numbers in (
            ("added", result.added),
            ("kept", result.kept),
            ("retired", result.retired),
            ("skipped", result.skipped),
        ):
            for number in numbers:
                self.stdout.write(f"{number}: {label}")
        self.stdout.write(result.summary())
