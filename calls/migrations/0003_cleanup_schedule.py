from django.db import migrations

from calls.schedule import CLEANUP_SCHEDULE, cleanup_schedule_ensure


def create_cleanup_schedule(apps, schema_editor):
    cleanup_schedule_ensure(apps.get_model("django_q", "Schedule"))


def delete_cleanup_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=CLEANUP_SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0002_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_cleanup_schedule, delete_cleanup_schedule)]
