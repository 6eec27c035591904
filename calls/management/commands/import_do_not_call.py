from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from calls.models import Business
from calls.services.do_not_call import ImportRefused, do_not_call_import, do_not_call_rows


class Command(BaseCommand):
    help = (
        "List the numbers of a CSV file (number, then an optional reason; a header row is "
        "skipped) as not to be called by one business, or by every business without --business. "
        "Prints each refused row and a summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A CSV file, UTF-8 (an export imports as it is).")
        parser.add_argument("--business", type=int, help="Business id; none: every business.")

    def handle(self, *args, file, business, **options):
        if business is not None and not Business.objects.filter(pk=business).exists():
            raise CommandError("No such business.")
        try:
            rows = do_not_call_rows(Path(file).read_bytes())
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from error
        except ImportRefused as error:
            raise CommandError(str(error)) from error
        result = do_not_call_import(business_id=business, rows=rows)
        for row in result.refused:
            self.stdout.write(f"line {row.line}: {row.number}: refused: {row.outcome}")
        self.stdout.write(result.summary())
