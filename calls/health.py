"""What /healthz reports: database, broker, cluster heartbeat, last cleanup, oldest unsettled
call. Each check is a dict with `ok`; the view answers 200 when all are, and shows the rest of
each dict only to whom `health_details_allowed`."""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max, Min
from django.utils import timezone

from calls.models import CallLog, Lease
from calls.services.cleanup import CLEANUP_LEASE

logger = logging.getLogger(__name__)

CLEANUP_MAX_AGE = timedelta(minutes=5)
HEARTBEAT_MAX_AGE = timedelta(minutes=3)


def health_checks() -> dict[str, dict]:
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as error:  # the point of a health check is to report any failure
        logger.warning("Health check: the database is unreachable: %s", error)
        checks["database"] = {"ok": False, "error": str(error)}
        return checks
    checks["broker"] = _broker_check()
    checks["cluster"] = _age_check(_last_task_finished(), HEARTBEAT_MAX_AGE, "no task has finished")
    lease = Lease.objects.filter(name=CLEANUP_LEASE).first()
    checks["cleanup"] = _age_check(
        lease and lease.last_succeeded_at, CLEANUP_MAX_AGE, "the cleanup has never succeeded"
    )
    checks["oldest_unsettled_call"] = _oldest_unsettled_call_check()
    return checks


def health_details_allowed(request) -> bool:
    """A superuser's session, or `Authorization: Bearer <HEALTHZ_TOKEN>` when that is set: the
    details (hosts and ports in errors, the queue's size) are the platform's, and a staff
    session is any business's member."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if settings.HEALTHZ_TOKEN and scheme.lower() == "bearer":
        return hmac.compare_digest(token.strip().encode(), settings.HEALTHZ_TOKEN.encode())
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False  # nothing to look up, in a database that may be down
    try:
        return request.user.is_active and request.user.is_superuser
    except DatabaseError:
        return False


def _oldest_unsettled_call_check() -> dict:
    oldest_at = CallLog.objects.filter(status__in=CallLog.LIVE_STATUSES).aggregate(
        at=Min("created_at")
    )["at"]
    if oldest_at is None:
        return {"ok": True, "age_seconds": None}
    age = timezone.now() - oldest_at
    stuck_after = timedelta(seconds=settings.STUCK_CALL_SECONDS) + 2 * timedelta(minutes=1)
    return {"ok": age <= stuck_after, "age_seconds": round(age.total_seconds())}


def _age_check(at, max_age: timedelta, never: str) -> dict:
    if at is None:
        return {"ok": False, "error": never, "age_seconds": None}
    age = timezone.now() - at
    check = {"ok": age <= max_age, "age_seconds": round(age.total_seconds())}
    if not check["ok"]:
        check["error"] = f"older than {int(max_age.total_seconds())} s"
    return check


def _broker_check() -> dict:
    from django_q.brokers import get_broker

    broker = get_broker()
    try:
        alive = bool(broker.ping())
    except Exception as error:  # a broker client raises its own types; all mean "down"
        return {"ok": False, "name": type(broker).__name__, "error": str(error)}
    return {"ok": alive, "name": type(broker).__name__, "queued": broker.queue_size()}


def _last_task_finished():
    from django_q.models import Task

    return Task.objects.aggregate(last=Max("stopped"))["last"]
