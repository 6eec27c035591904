import csv

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from calls.models import Business
from compliance.consent_records import CSV_COLUMNS, consents_import

# Errors printed at most; the rest are counted.
ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Record the consents of a CSV file for one business, all or none. The header row names "
        f"the columns: {', '.join(CSV_COLUMNS)} (purposes separated by ';', times in ISO 8601, "
        "UTC without an offset; source defaults to import). Prints each bad row's line and why."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A CSV file, UTF-8, with a header row.")
        parser.add_argument("--business", type=int, required=True, help="Business id.")

    def handle(self, *args, file, business, **options):
        business = Business.objects.filter(pk=business).first()
        if business is None:
            raise CommandError("No such business.")
        try:
            with open(file, encoding="utf-8-sig", newline="") as lines:
                reader = csv.DictReader(lines)
                if "number" not in (reader.fieldnames or []):
                    raise CommandError(f"The header row must name the columns: {CSV_COLUMNS}.")
                rows = ((reader.line_num, row) for row in reader)
                recorded = consents_import(business=business, rows=rows)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from error
        except (UnicodeDecodeError, csv.Error) as error:
            raise CommandError(f"Not a UTF-8 CSV file: {error}") from error
        except ValidationError as error:
            problems = [f"{where}: {' '.join(why)}" for where, why in error.message_dict.items()]
            for problem in problems[:ERRORS_SHOWN]:
                self.stderr.write(problem)
            lines = {where.partition(":")[0] for where in error.message_dict}
            raise CommandError(
                f"Nothing recorded: {len(lines)} row(s) refused (fix them and import again)."
            ) from error
        self.stdout.write(f"{recorded} consent(s) recorded for {business.name}.")
