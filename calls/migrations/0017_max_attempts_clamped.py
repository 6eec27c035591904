"""Brings every stored max_attempts into 1-20 before 0018 makes the database enforce it: past
about 31 attempts the doubling backoff overflowed the date and crashed the callback."""

from django.db import migrations
from django.db.models import Q

LIMIT = 20


def clamp(apps, schema_editor):
    for name in ("Business", "CallRequest"):
        model = apps.get_model("calls", name)
        model.objects.filter(max_attempts__gt=LIMIT).update(max_attempts=LIMIT)
        model.objects.filter(Q(max_attempts__lt=1)).update(max_attempts=1)


class Migration(migrations.Migration):
    dependencies = [("calls", "0016_call_prices")]

    operations = [migrations.RunPython(clamp, migrations.RunPython.noop)]
