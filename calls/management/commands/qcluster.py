import sys

from django.core.management.base import BaseCommand

from calls.cluster import STOP_GRACE_SECONDS, cluster_run


class Command(BaseCommand):
    help = (
        "Starts django-q2's cluster (in place of its own `qcluster`, which hangs when SIGTERM "
        "reaches every process of its group) and stops it within a few seconds on SIGTERM, "
        "SIGINT or SIGHUP, sent to the main process or to the whole group."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=float,
            default=STOP_GRACE_SECONDS,
            help="Seconds the tasks in hand get to finish once stopping, before they are cut "
            f"short (default {STOP_GRACE_SECONDS:.0f}).",
        )

    def handle(self, *args, grace, **options):
        code = cluster_run(grace_seconds=grace)
        if code:
            sys.exit(code)
