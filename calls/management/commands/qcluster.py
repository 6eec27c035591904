import sys

from django.core.management.base import BaseCommand

from calls.cluster import cluster_run


class Command(BaseCommand):
    help = (
        "Starts django-q2's cluster (in place of its own `qcluster`, which hangs when SIGTERM "
        "reaches every process of its group) and stops it within a few seconds on SIGTERM, "
        "SIGINT or SIGHUP, sent to the main process or to the whole group."
    )

    def handle(self, *args, **options):
        code = cluster_run()
        if code:
            sys.exit(code)
