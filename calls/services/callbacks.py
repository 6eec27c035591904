"""What Twilio's webhooks report: status callbacks and inbound calls."""

import dataclasses
import enum
import logging
import uuid

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from calls.faults import fault_point
from calls.models import Business, CallEvent, CallLog
from calls.phone import to_e164
from calls.services.status import (
    StatusReport,
    call_sid_store,
    call_status_apply,
    calls_hang_up_request,
    status_move_terms,
)
from calls.services.task_queue import task_queue_after_commit
from calls.tasks import create_lead_from_call

logger = logging.getLogger(__name__)

Status = CallLog.Status
EndedBy = CallLog.EndedBy


class Received(enum.Enum):
    """What became of a status callback about a call this service placed."""

    RECORDED = "recorded"  # applied or not, it is a CallEvent
    UNKNOWN_CALL = "unknown call"  # no call has that public id: nothing changed
    FOREIGN_ACCOUNT = "foreign account"  # signed by another account: nothing changed


def call_callback_receive(
    *,
    public_id: uuid.UUID,
    account_id: int | None,
    sid: str,
    report: StatusReport,
    params: dict,
) -> Received:
    """Applies the status callback of the call `public_id`, signed by the account `account_id`
    (None: the main account), and keeps it as a CallEvent; the call must be that account's.

    On PostgreSQL, a report that moves a call with this SID forward without ending it (three of
    a call's four) is applied and recorded by one statement in autocommit (`_move_at_once`).
    Anything else takes the full path in a transaction: an end (the request is locked first and
    settled), a call whose SID is not stored yet, and a report that does not move the call
    (stale, reordered, duplicate, another SID: it still fills late facts and is recorded as not
    applied). The one statement writes nothing unless it moves the call, so the full path then
    starts from the same row as it would have alone.
    """
    if report.status not in CallLog.TERMINAL_STATUSES and connection.vendor == "postgresql":
        fault_point(f"callback-{report.status}")
        found = _move_at_once(
            public_id=public_id, account_id=account_id, sid=sid, report=report, params=params
        )
        if found is None:
            return Received.UNKNOWN_CALL
        call_account_id, applied = found
        if call_account_id != account_id:
            return Received.FOREIGN_ACCOUNT
        if applied:
            return Received.RECORDED
    call = CallLog.objects.filter(public_id=public_id).first()
    if call is None:
        return Received.UNKNOWN_CALL
    if call.twilio_account_id != account_id:
        return Received.FOREIGN_ACCOUNT
    call_callback_record(
        call=call,
        sid=sid,
        report=report,
        sip_response_code=report.sip_response_code,
        params=params,
    )
    return Received.RECORDED


def _move_at_once(
    *,
    public_id: uuid.UUID,
    account_id: int | None,
    sid: str,
    report: StatusReport,
    params: dict,
) -> tuple[int | None, bool] | None:
    """One statement: the conditional UPDATE of call_status_apply (the same terms), limited to
    the call with this public id, this SID and this account, and, only when it moved the call,
    the INSERT of its applied CallEvent; it returns the call's account and whether it moved, or
    None when there is no such call. A data-modifying CTE is atomic on its own, so the audit row
    and the move commit together without a transaction's BEGIN and COMMIT; the UPDATE's row
    lock and its re-check of the condition on a row another writer just changed are those of
    the full path's UPDATE, so two callbacks racing still cannot both win. Only for a report
    that does not end the call: an end takes the request's lock first (the lock order)."""
    now = timezone.now()
    moves, changes = status_move_terms(report, now)
    rows = CallLog.objects.filter(
        moves, public_id=public_id, call_sid=sid, twilio_account_id=account_id
    )
    update = rows.query.chain(UpdateQuery)
    update.add_update_values(changes)
    update_sql, update_params = update.get_compiler(connection=connection).as_sql()
    call_table = connection.ops.quote_name(CallLog._meta.db_table)
    event_table = connection.ops.quote_name(CallEvent._meta.db_table)
    event_params = CallEvent._meta.get_field("params").get_db_prep_save(params, connection)
    sql = f"""
        WITH moved AS ({update_sql} RETURNING {call_table}."id"),
        recorded AS (
            INSERT INTO {event_table} ("call_id", "source", "status", "sequence_number",
                "sip_response_code", "applied", "params", "received_at")
            SELECT "id", %s, %s, %s, %s, TRUE, %s, %s FROM moved RETURNING "call_id"
        )
        SELECT "twilio_account_id", EXISTS (SELECT 1 FROM recorded)
        FROM {call_table} WHERE "public_id" = %s
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            (
                *update_params,
                CallEvent.Source.CALLBACK,
                report.status,
                report.sequence_number,
                report.sip_response_code,
                event_params,
                now,
                public_id,
            ),
        )
        return cursor.fetchone()


def call_callback_record(
    *, call: CallLog, sid: str, report: StatusReport, sip_response_code: int | None, params: dict
) -> bool:
    """Applies one status callback about `call` and keeps it as a CallEvent."""
    if report.sip_response_code is None:
        report = dataclasses.replace(report, sip_response_code=sip_response_code)
    with transaction.atomic():
        if not call.call_sid:
            call_sid_store(call=call, sid=sid)
        applied = call.call_sid == sid and call_status_apply(call=call, report=report)
        if not applied and call.call_sid != sid:
            logger.warning("Callback for %s carries SID %s, not %s", call.pk, sid, call.call_sid)
        elif not applied and _is_reaped_but_live(call, report.status):
            # The service gave up on this call, yet Twilio says it is live: hang it up so the
            # cap holds in reality, not just in the database.
            logger.warning("Call %s was settled as %s but is %s", sid, call.status, report.status)
            calls_hang_up_request(call_ids=[call.pk])
        CallEvent.objects.create(
            call=call,
            status=report.status,
            sequence_number=report.sequence_number,
            sip_response_code=sip_response_code,
            applied=applied,
            params=params,
        )
        fault_point(f"callback-{report.status}")
    return applied


def _is_reaped_but_live(call: CallLog, reported: str) -> bool:
    return (
        call.status == Status.FAILED
        and call.ended_by in (EndedBy.CLEANUP, EndedBy.RECONCILE, EndedBy.DISPATCH)
        and reported in CallLog.LIVE_STATUSES
    )


def inbound_business(*, to_number: str) -> Business | None:
    """The business an inbound call to `to_number` is for; None for a number not ours."""
    try:
        return Business.objects.get(phone_number=to_e164(to_number))
    except (Business.DoesNotExist, ValidationError):
        return None


def inbound_call_receive(
    *, business: Business | None, call_sid: str, from_number: str, to_number: str, status: str
):
    """Records an inbound call to `business` once, however often Twilio retries; None for an
    unknown number (no business)."""
    if business is None:
        return None
    with transaction.atomic():
        call, created = CallLog.objects.get_or_create(
            call_sid=call_sid,
            defaults={
                "business": business,
                "twilio_account_id": business.twilio_account_id,
                "direction": CallLog.Direction.INBOUND,
                "from_number": from_number,
                "to_number": to_number,
                "status": status if status in CallLog.LIVE_STATUSES else Status.RINGING,
            },
        )
        if created:
            task_queue_after_commit(create_lead_from_call, call_sid)
    return call
