"""A database that cannot be reached is an outage, not a bug: 503, so callers retry."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """Answers 503 with Retry-After to a request that meets an unreachable or restarting
    database (refused connection, a connection the server closed, a deadlock or a lock timeout:
    OperationalError; a connection already closed: InterfaceError), instead of a 500.

    A 5xx tells Twilio the request was not taken (its debugger shows error 11200), and a 503 says
    why: an outage, not a bug. A webhook does its writes in one transaction, so nothing of the
    request was stored.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("Database unavailable for %s %s: %s", request.method, request.path, exception)
        response = HttpResponse(
            "The database is unavailable; try again shortly.\n",
            status=503,
            content_type="text/plain",
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
