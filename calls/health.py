"""What /healthz reports: database, broker (and its oldest waiting task), the workers'
heartbeat, last cleanup, oldest unsettled call. Each check is a dict with `ok`; the view answers
200 when all are, and shows the rest of each dict only to whom `health_details_allowed`.

The console (the dashboard and the banner on every admin page) and /metrics read the same checks
(`dialing_health`, `health_checks`), so "running" means the same thing everywhere.
"""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from calls.models import CallLog, Lease, WorkerHeartbeat
from calls.services.cleanup import CLEANUP_LEASE

logger = logging.getLogger(__name__)

CLEANUP_MAX_AGE = timedelta(minutes=5)
# A worker checks in every HEARTBEAT_SECONDS (calls/cluster.py); a minute without is six misses.
HEARTBEAT_MAX_AGE = timedelta(minutes=1)
# Dispatches work for at most DISPATCH_BUDGET_SECONDS: a task waiting longer than this for a worker
# means the workers are stuck or too few.
TASK_MAX_WAIT = timedelta(minutes=3)


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
    checks["cluster"] = _worker_check()
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
        queued = broker.queue_size()
        oldest_at = _oldest_task_at(broker) if queued else None
    except Exception as error:  # a broker client raises its own types; all mean "down"
        return {"ok": False, "name": type(broker).__name__, "error": str(error)}
    check = {"ok": alive, "name": type(broker).__name__, "queued": queued}
    check["oldest_task_age_seconds"] = None
    if oldest_at is not None:
        wait = max(timezone.now() - oldest_at, timedelta(0))
        check["oldest_task_age_seconds"] = round(wait.total_seconds())
        if wait > TASK_MAX_WAIT:
            check["ok"] = False
            check["error"] = f"a task has waited over {int(TASK_MAX_WAIT.total_seconds())} s"
    return check


def _oldest_task_at(broker):
    """When the task waiting longest was queued (or handed back): the ORM broker's waiting rows
    carry it as their lock time; Redis's head of the list carries it in its signed payload."""
    from django_q.brokers.orm import ORM
    from django_q.brokers.redis_broker import Redis
    from django_q.signing import SignedPackage

    if isinstance(broker, ORM):
        waiting = broker.get_connection().filter(key=broker.list_key, lock__lte=timezone.now())
        return waiting.aggregate(at=Min("lock"))["at"]
    if isinstance(broker, Redis):
        head = broker.connection.lindex(broker.list_key, 0)
        return SignedPackage.loads(head).get("started") if head else None
    return None


def _worker_check() -> dict:
    """Whether a worker has checked in within HEARTBEAT_MAX_AGE: how many did, and how long ago
    the latest last did."""
    since = timezone.now() - HEARTBEAT_MAX_AGE
    beats = WorkerHeartbeat.objects.aggregate(
        last=Max("seen_at"),
        clusters=Count("pk", filter=Q(stopped_at=None, seen_at__gte=since)),
    )
    check = _age_check(beats["last"], HEARTBEAT_MAX_AGE, "no worker has ever checked in")
    clusters = beats["clusters"]
    check["clusters"] = clusters
    if not clusters and check["ok"]:
        check["ok"] = False
        check["error"] = "every worker has stopped"
    return check


def dialing_health(checks: dict | None = None) -> list[str]:
    """What keeps calls from being placed or settled right now, each a sentence that names what
    is stale and how long; empty while all is fresh. The console's words for `health_checks`."""
    checks = checks or health_checks()
    if not checks["database"]["ok"]:
        return ["The database cannot be reached: nothing is placed or recorded."]
    problems = []
    cluster = checks["cluster"]
    if not cluster["ok"]:
        if cluster["age_seconds"] is None:
            problems.append("No worker has ever checked in: calls are not being placed.")
        elif cluster.get("error") == "every worker has stopped":
            problems.append(
                f"No worker is running (the last stopped {_ago(cluster['age_seconds'])} ago): "
                "calls are not being placed."
            )
        else:
            problems.append(
                f"No worker has checked in for {_ago(cluster['age_seconds'])}: "
                "calls are not being placed."
            )
    broker = checks["broker"]
    if "queued" not in broker:
        problems.append("The task queue cannot be reached: calls are not being placed.")
    elif not broker["ok"]:
        problems.append(
            f"The oldest queued task has waited {_ago(broker['oldest_task_age_seconds'])} "
            f"({broker['queued']} waiting): the workers are not keeping up."
        )
    cleanup = checks["cleanup"]
    if not cleanup["ok"]:
        if cleanup["age_seconds"] is None:
            problems.append("The cleanup has never run: stuck calls are not being settled.")
        else:
            problems.append(
                f"The cleanup last ran {_ago(cleanup['age_seconds'])} ago: stuck calls are not "
                "being settled."
            )
    return problems


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
