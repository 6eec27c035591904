"""django-q2 entry points: one stable key in, one service call. Each is idempotent.

Services queue these by the function (`task_queue_after_commit(dispatch, business_id)`), so a
misspelt task fails at import; each imports its service inside its body, since the services
import this module.
"""

import logging

# Rows queued before the lead task moved to `leads` name it here; operators know it by this name.
from leads.tasks import create_lead_from_call  # noqa: F401

logger = logging.getLogger(__name__)


def dispatch(business_id):
    from calls.services.dispatch import business_dispatch

    business_dispatch(business_id=business_id)


def reconcile_call(call_id):
    from calls.services.reconcile import call_reconcile

    call_reconcile(call_id=call_id)


def hang_up_call(call_id):
    from calls.services.hang_ups import call_hang_up

    call_hang_up(call_id=call_id)


def leave_voicemail(call_id):
    from calls.services.machines import call_voicemail_leave

    call_voicemail_leave(call_id=call_id)


def fetch_call_price(call_id):
    from calls.services.prices import call_price_fetch

    call_price_fetch(call_id=call_id)


def cleanup_orphaned_calls():
    """The per-minute schedule (its name is kept: the schedule row and runbooks use it).

    Under a lease, so runs never overlap: fails calls whose create was never sent, queues a
    reconcile for calls Twilio never confirmed or that went silent, queues a dispatch for every
    business with a free slot and a due request, the lead task for ended calls without a lead and
    a price fetch for ended calls Twilio has not priced yet, and prunes django-q2's old results.
    Returns how many never-sent calls it failed.
    """
    from calls.services.cleanup import cleanup_run

    result = cleanup_run()
    logger.info("Cleanup: %s", result)
    return result.failed
