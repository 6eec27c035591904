import csv

from django.core.management.base import BaseCommand, CommandError

from calls.models import Business, Campaign
from calls.services.enqueue import enqueue_outbound_calls


class Command(BaseCommand):
    help = "Queue outbound calls for a business; prints one line per number, queued or why not."

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, required=True, help="Business id.")
        parser.add_argument("--campaign", help="Campaign name (created, running, if new).")
        parser.add_argument("--file", help="CSV file: the first column of each row is a number.")
        parser.add_argument("numbers", nargs="*")

    def handle(self, *args, business, campaign, file, numbers, **options):
        business = Business.objects.filter(pk=business).first()
        if business is None:
            raise CommandError("No such business.")
        if file:
            numbers = [*numbers, *self._read(file)]
        if not numbers:
            raise CommandError("Give numbers as arguments or with --file.")
        created = False
        if campaign:
            campaign, created = Campaign.objects.get_or_create(business=business, name=campaign)
        results = enqueue_outbound_calls(business=business, numbers=numbers, campaign=campaign)
        for result in results:
            if result.request:
                held = f" ({result.request.held_reason})" if result.request.held_reason else ""
                self.stdout.write(f"{result.number}: queued as {result.request.to_number}{held}")
            else:
                self.stdout.write(f"{result.number}: refused: {result.refused}")
        queued = sum(1 for r in results if r.request)
        self.stdout.write(f"{queued} queued, {len(results) - queued} refused.")
        if created and not queued:
            # A campaign ends when it has requests and none is open: an empty one would run
            # forever, so one made for numbers that were all refused is not kept.
            campaign.delete()
            self.stdout.write(f"Campaign {campaign.name!r} not created: no number was queued.")

    def _read(self, path):
        try:
            with open(path, newline="") as handle:
                rows = [row for row in csv.reader(handle) if row and row[0].strip()]
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        # A header row ("phone", "number", ...) is not a number: skip it.
        if rows and not any(ch.isdigit() for ch in rows[0][0]):
            rows = rows[1:]
        return [row[0] for row in rows]
