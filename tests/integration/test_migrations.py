import pytest
from django.core.management import call_command
from django.db import connection
from django_q.models import Schedule


def test_the_schema_has_no_changes_without_a_migration(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_migrate_creates_the_error_columns_of_call_log(db):
    with connection.cursor() as cursor:
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, "calls_calllog")
        }
    assert {"error_code", "error_message", "dial_started_at", "last_sequence_number"} <= columns


def test_migrate_creates_the_cleanup_schedule_once(db):
    schedule = Schedule.objects.get(name="cleanup-orphaned-calls")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "calls.tasks.cleanup_orphaned_calls",
        Schedule.MINUTES,
        1,
        -1,
    )


@pytest.mark.django_db(transaction=True)
def test_migrating_again_does_not_duplicate_the_schedule():
    call_command("migrate", "calls", "0002", verbosity=0)
    assert not Schedule.objects.filter(name="cleanup-orphaned-calls").exists()
    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    assert Schedule.objects.filter(name="cleanup-orphaned-calls").count() == 1


def test_ensuring_the_schedule_twice_keeps_one_row(db):
    from calls.schedule import cleanup_schedule_ensure

    cleanup_schedule_ensure(Schedule)
    cleanup_schedule_ensure(Schedule)
    assert Schedule.objects.filter(name="cleanup-orphaned-calls").count() == 1
