"""The django-q2 schedules this service needs, created by a migration (and by test stacks)."""

from django.utils import timezone

CLEANUP_SCHEDULE = "cleanup-orphaned-calls"


def cleanup_schedule_ensure(schedule_model) -> None:
    """Creates or updates the per-minute cleanup; `schedule_model` is django_q's Schedule.

    Schedule.name is not unique: update_or_create keeps one row however often this runs.
    """
    schedule_model.objects.update_or_create(
        name=CLEANUP_SCHEDULE,
        defaults={
            "func": "calls.tasks.cleanup_orphaned_calls",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )
