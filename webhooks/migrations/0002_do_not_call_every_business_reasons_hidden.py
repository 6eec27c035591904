"""Messages about requests canceled for a number on the list of every business carried that
list's reason, which is the superusers' (and members read payloads in the admin): say none."""

from django.db import migrations

LEAKED = "On the do-not-call list of every business: "
TOLD = "On the do-not-call list of every business."


def reasons_hide(apps, schema_editor):
    WebhookMessage = apps.get_model("webhooks", "WebhookMessage")
    for message in WebhookMessage.objects.filter(payload__data__reason__startswith=LEAKED):
        data = message.payload.get("data") or {}
        if str(data.get("reason", "")).startswith(LEAKED):
            data["reason"] = TOLD
            message.save(update_fields=["payload"])


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(reasons_hide, migrations.RunPython.noop),
    ]
