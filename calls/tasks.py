"""django-q2 entry points: one stable key in, one service call. Each is idempotent."""

import logging

from calls import services
from leads.services import lead_from_call

logger = logging.getLogger(__name__)


def create_lead_from_call(call_sid):
    lead_from_call(call_sid=call_sid)


def dispatch(business_id):
    services.business_dispatch(business_id=business_id)


def reconcile_call(call_log_id):
    services.call_reconcile(call_id=call_log_id)


def hang_up_call(call_log_id):
    services.call_hang_up(call_id=call_log_id)


def cleanup_orphaned_calls():
    """The per-minute schedule; returns how many orphaned calls it failed."""
    result = services.cleanup_run()
    logger.info("Cleanup: %s", result)
    return result.failed
