"""An operator's own settings: the time zone the admin shows times in (UTC until they choose).
Registered with the app through calls.models."""

import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

SESSION_KEY = "operator_time_zone"
DEFAULT_TIME_ZONE = "UTC"


@cache
def time_zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})


def validate_time_zone(name: str) -> None:
    if name not in time_zone_names():
        raise ValidationError(f"{name!r} is not a time zone name (e.g. Europe/Paris).")


class OperatorPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="operator_preference"
    )
    time_zone = models.CharField(
        max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone]
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user}: {self.time_zone}"


def operator_time_zone(request) -> str:
    """The zone of the user making `request`, kept in its session after the first look, so a
    page costs no query for it; UTC for anyone else."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return DEFAULT_TIME_ZONE  # a webhook, a probe: no session, no query
    zone = request.session.get(SESSION_KEY)
    if zone is None and request.user.is_authenticated:
        zone = (
            OperatorPreference.objects.filter(user=request.user)
            .values_list("time_zone", flat=True)
            .first()
        ) or DEFAULT_TIME_ZONE
        request.session[SESSION_KEY] = zone
    return zone or DEFAULT_TIME_ZONE


def operator_time_zone_set(request, zone: str) -> None:
    validate_time_zone(zone)
    OperatorPreference.objects.update_or_create(user=request.user, defaults={"time_zone": zone})
    request.session[SESSION_KEY] = zone


class OperatorTimeZoneMiddleware:
    """Shows times in the operator's zone for the length of the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.activate(zoneinfo.ZoneInfo(operator_time_zone(request)))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
