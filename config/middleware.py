"""A database that cannot be reached is an outage, not a bug: 503, so callers retry. An upload
past its bound is refused before it is read: 413."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat

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


class UploadSizeMiddleware:
    """Refuses a file upload (a multipart body) larger than UPLOAD_MAX_BYTES with 413, from its
    Content-Length, before anything reads it.

    Django caps other bodies (DATA_UPLOAD_MAX_MEMORY_SIZE) but streams any file to disk however
    large, and the CSRF check parses a POST's body before any view runs, for anyone, logged in
    or not. A WSGI server hands over no more than Content-Length bytes, so the header bounds
    what is read. Each form then refuses a file past its own bound by its size, before reading
    it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.content_type == "multipart/form-data":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0  # Django reads such a body as empty
            if length > settings.UPLOAD_MAX_BYTES:
                most = megabytes(settings.UPLOAD_MAX_BYTES)
                return HttpResponse(
                    f"The upload is {megabytes(length)}; at most {most} is taken at once. "
                    "Split the file and upload the parts.\n",
                    status=413,
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)


def megabytes(size: int) -> str:
    return filesizeformat(size).replace("\xa0", " ")
