from django.db import migrations
from django.utils import timezone


def create_cleanup_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    # Schedule.name is not unique: update_or_create keeps one row however often this runs.
    Schedule.objects.update_or_create(
        name="cleanup-orphaned-calls",
        defaults={
            "func": "calls.tasks.cleanup_orphaned_calls",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def delete_cleanup_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="cleanup-orphaned-calls").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_cleanup_schedule, delete_cleanup_schedule)]
