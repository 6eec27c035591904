from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from calls.models import Business
from calls.services.erasure import ErasureRefused, number_erase


class Command(BaseCommand):
    help = (
        "Erase a person's number from one business's leads, calls, requests and callback events, "
        "and record that the erasure happened (a keyed hash, never the number)."
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="The number, e.g. +14155550123.")
        parser.add_argument("--business", type=int, required=True, help="Business id.")

    def handle(self, *args, number, business, **options):
        if not Business.objects.filter(pk=business).exists():
            raise CommandError("No such business.")
        try:
            result = number_erase(business_id=business, number=number, via="command")
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        except ErasureRefused as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{result.summary()} Recorded as erasure {result.erasure.pk}.")
