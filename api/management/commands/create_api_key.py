from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create
from calls.models import Business


class Command(BaseCommand):
    help = "Make an API key for a business; the key is printed once, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, required=True, help="Business id.")
        parser.add_argument("--name", default="", help="What will use it, e.g. the CRM.")

    def handle(self, *args, business, name, **options):
        found = Business.objects.filter(pk=business).first()
        if found is None:
            raise CommandError(f"No business with id {business}.")
        if len(name) > 100:
            raise CommandError("--name: at most 100 characters.")
        row, key = api_key_create(business=found, name=name)
        self.stdout.write(
            f"API key {row.prefix}… for {found.name} (id {row.pk}). It is shown once; "
            "only its hash is kept:"
        )
        self.stdout.write(key)
