from django.core.management.base import BaseCommand, CommandError

from calls.models import Business
from calls.services.number_health import numbers_health_run


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


class Command(BaseCommand):
    help = (
        "Judge the caller numbers' health as the scheduled cleanup does (quarantine the "
        "unhealthy, return those cooled down) and print each number's figures and verdict."
    )

    def add_arguments(self, parser):
        parser.add_argument("--business", type=int, help="Only this business's numbers.")

    def handle(self, *args, business=None, **options):
        if business is not None and not Business.objects.filter(pk=business).exists():
            raise CommandError("No such business.")
        report = numbers_health_run(business_id=business)
        if not report:
            self.stdout.write("No business has caller numbers.")
        for health in report:
            self.stdout.write(
                f"{health.business.name} (business {health.business.pk}): pool median answer "
                f"rate {percent(health.median_answer_rate)}"
            )
            for each in health.numbers:
                self.stdout.write(
                    f"  {each.number.number} today {each.today}/{each.number.daily_cap} · "
                    f"{each.attempts} calls · answered {percent(each.answer_rate)} · "
                    f"under 6 s {percent(each.under_6_share)} · "
                    f"under 12 s {percent(each.under_12_share)} · "
                    f"SIP 603/608 {percent(each.rejected_share)} · opt-outs {each.opt_outs} · "
                    f"{each.verdict}"
                )
