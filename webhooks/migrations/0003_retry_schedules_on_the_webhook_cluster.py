"""Retry schedules made before deliveries had a cluster of their own carry none, so the dialing
cluster's scheduler would fire them onto dialing's queue: they get the webhooks' cluster."""

from django.conf import settings
from django.db import migrations


def to_webhook_cluster(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name__startswith="webhook:", cluster__isnull=True).update(
        cluster=settings.WEBHOOK_CLUSTER
    )


def to_default_cluster(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name__startswith="webhook:").update(cluster=None)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_do_not_call_every_business_reasons_hidden"),
        ("django_q", "0014_schedule_cluster"),
    ]

    operations = [migrations.RunPython(to_webhook_cluster, to_default_cluster)]
