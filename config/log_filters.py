"""Logging filters named by settings.LOGGING."""

import logging


class NoClientErrorTracebacks(logging.Filter):
    """A 4xx Django logs (a page not found, a page refused to a viewer) is the client's doing:
    one line says so; the traceback of the PermissionDenied behind it says nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
