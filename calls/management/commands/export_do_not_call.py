import csv

from django.core.management.base import BaseCommand, CommandError

from calls.models import Business
from calls.services.do_not_call import do_not_call_export_lines
from compliance.models import DoNotCall


class Command(BaseCommand):
    help = (
        "Write a do-not-call list as CSV to standard output: one business's numbers, or every "
        "row (those of each business and those for every business) without --business."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, help="Business id; none: every row.")

    def handle(self, *args, business, **options):
        rows = DoNotCall.objects.all()
        if business is not None:
            if not Business.objects.filter(pk=business).exists():
                raise CommandError("No such business.")
            rows = rows.filter(business_id=business)
        writer = csv.writer(self.stdout, lineterminator="\n")
        for line in do_not_call_export_lines(rows):
            writer.writerow(line)
