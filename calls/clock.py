"""The time calling windows are judged at. One function so that tests can set it: the windows
depend on the hour of the day, and a test must not pass at noon and fail at night. Everything
else keeps timezone.now() and the database's Now()."""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
