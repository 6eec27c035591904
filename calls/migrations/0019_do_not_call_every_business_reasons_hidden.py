"""Requests canceled for a number on the list of every business said that list's reason, which
is the superusers' (calls.services.do_not_call.do_not_call_reason no longer does): say none."""

from django.db import migrations

LEAKED = "On the do-not-call list of every business: "
TOLD = "On the do-not-call list of every business."


def reasons_hide(apps, schema_editor):
    CallRequest = apps.get_model("calls", "CallRequest")
    CallRequest.objects.filter(last_error__startswith=LEAKED).update(last_error=TOLD)


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0018_engine_guarantees"),
    ]

    operations = [
        migrations.RunPython(reasons_hide, migrations.RunPython.noop),
    ]
