"""Erasing a person's number from one business's rows when they ask: their lead is deleted, the
number is replaced in calls and requests, the raw callback parameters of those calls and the
client's metadata of those requests are dropped, the stored answers of the API's idempotent POSTs
and the webhook messages about them are redacted, and so are admin log entries naming those rows
and django-q2's saved results that quote the number; a NumberErasure records that it happened
(with a keyed hash of the number, never the number).

The number's do-not-call rows (calls.DoNotCall) are kept: honouring an opt-out is the law
(47 CFR 64.1200), and it cannot be honoured once forgotten. Its consent records are kept as
proof, without the number or the evidence's text (compliance.consent_records.consents_erase)."""

import logging
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.db.models.functions import Cast, Replace
from django.utils.crypto import salted_hmac

from api.models import IdempotencyRecord
from calls.audit import NumberErasure
from calls.models import CallEvent, CallLog, CallRequest
from calls.phone import to_e164
from calls.services.locks import business_lock
from compliance.consent_records import consents_erase
from compliance.models import ConsentRecord, DoNotCall
from leads.models import Lead
from webhooks.models import WebhookAttempt, WebhookMessage

logger = logging.getLogger(__name__)

ERASED = "erased"


class ErasureRefused(Exception):
    pass


@dataclass
class ErasureResult:
    erasure: NumberErasure

    def summary(self) -> str:
        e = self.erasure
        return (
            f"Erased: {e.leads} lead(s) deleted, the number removed from {e.calls} call(s) and "
            f"{e.requests} request(s), and the raw parameters of {e.events} event(s) dropped."
        )


def number_hash(number: str) -> str:
    """Keyed with SECRET_KEY: whoever has the number and the key can find its erasure."""
    return salted_hmac("calls.erasure.number", number, algorithm="sha256").hexdigest()


def number_erase(*, business_id: int, number: str, user=None, via: str) -> ErasureResult:
    """Removes `number` from the business's leads, calls, requests and events; raises
    ValidationError for a malformed number and ErasureRefused while a call to it is live."""
    number = to_e164(number)
    with transaction.atomic():
        business = business_lock(business_id=business_id)
        calls = CallLog.objects.filter(business=business).filter(
            Q(to_number=number) | Q(from_number=number)
        )
        requests = CallRequest.objects.filter(business=business, to_number=number)
        if (
            calls.filter(status__in=CallLog.LIVE_STATUSES).exists()
            or requests.filter(status=CallRequest.Status.ACTIVE).exists()
        ):
            raise ErasureRefused("A call to this number is live: hang it up, then erase.")
        # A queued request would dial whatever replaced the number.
        requests.filter(status=CallRequest.Status.QUEUED).status_move(
            CallRequest.Status.CANCELED, last_error="The number was erased."
        )
        call_ids = list(calls.values_list("pk", flat=True))
        request_ids = list(requests.values_list("pk", flat=True))
        leads = Lead.objects.filter(business=business, phone_number=number)
        lead_ids = list(leads.values_list("pk", flat=True))

        events = CallEvent.objects.filter(call_id__in=call_ids).update(params=None)
        CallLog.objects.filter(pk__in=call_ids).update(
            to_number=Case(When(to_number=number, then=Value(ERASED)), default=F("to_number")),
            from_number=Case(
                When(from_number=number, then=Value(ERASED)), default=F("from_number")
            ),
            error_message=Replace(F("error_message"), Value(number), Value(ERASED)),
        )
        # The client's metadata is about the person and may hold the number in any form.
        CallRequest.objects.filter(pk__in=request_ids).update(
            to_number=ERASED,
            last_error=Replace(F("last_error"), Value(number), Value(ERASED)),
            metadata={},
        )
        _webhook_messages_redact(number=number, request_ids=request_ids)
        _idempotent_answers_redact(business=business, number=number, request_ids=request_ids)
        _task_results_redact(number=number)
        listed_ids = list(
            DoNotCall.objects.filter(business=business, phone_number=number).values_list(
                "pk", flat=True
            )
        )
        # The proof of consent and its revocation stay, without the person's details.
        consent_ids = consents_erase(
            business_id=business.pk, number=number, number_hash=number_hash(number)
        )
        for model, ids in (
            (ConsentRecord, consent_ids),
            (Lead, lead_ids),
            (CallLog, call_ids),
            (CallRequest, request_ids),
            # The list keeps the number; its history need not repeat it.
            (DoNotCall, listed_ids),
        ):
            # What the admin's history shows of a row is its name: the number, for these.
            LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(model),
                object_id__in=[str(pk) for pk in ids],
            ).update(object_repr=ERASED)
        deleted_leads = Lead.objects.filter(pk__in=lead_ids).delete()[1].get("leads.Lead", 0)
        erasure = NumberErasure.objects.create(
            business=business,
            number_hash=number_hash(number),
            requested_by=user if user and user.is_authenticated else None,
            requested_by_name=user.get_username() if user and user.is_authenticated else "",
            via=via,
            leads=deleted_leads,
            calls=len(call_ids),
            requests=len(request_ids),
            events=events,
        )
    logger.info("Erasure %s in business %s via %s", erasure.pk, business_id, via)
    return ErasureResult(erasure)


def _redacted(value, number: str, request_ids=()):
    """`value` (JSON, or what django-q2 pickled) with the number, in E.164 or as bare digits,
    replaced; a request's answer of those erased loses its metadata."""
    if isinstance(value, str):
        return value.replace(number, ERASED).replace(number.lstrip("+"), ERASED)
    if isinstance(value, dict):
        value = {key: _redacted(item, number, request_ids) for key, item in value.items()}
        if "metadata" in value and value.get("id") in request_ids:
            value["metadata"] = {}
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(item, number, request_ids) for item in value)
    if number.lstrip("+") in repr(value):
        return _redacted(repr(value), number)
    return value


def _webhook_messages_redact(*, number: str, request_ids: list[int]) -> None:
    """The messages about the erased requests: their metadata, and a reason quoting the number
    (an error message from Twilio); the attempts' errors too."""
    for message in WebhookMessage.objects.filter(request_id__in=request_ids):
        payload = message.payload
        if isinstance(payload.get("data"), dict) and "metadata" in payload["data"]:
            payload["data"]["metadata"] = {}
        message.payload = _redacted(payload, number)
        message.save(update_fields=["payload"])
    WebhookAttempt.objects.filter(message__request_id__in=request_ids).update(
        error=Replace(F("error"), Value(number), Value(ERASED))
    )


def _idempotent_answers_redact(*, business, number: str, request_ids: list[int]) -> None:
    """The stored first answers of the business's idempotent POSTs that name the number: a
    replay gets the answer with the number erased, and queues nothing again."""
    records = (
        IdempotencyRecord.objects.filter(api_key__business=business)
        .annotate(text=Cast("response_body", TextField()))
        .filter(text__contains=number.lstrip("+"))
    )
    for record in records:
        record.response_body = _redacted(record.response_body, number, request_ids)
        record.save(update_fields=["response_body"])


def _task_results_redact(*, number: str) -> int:
    """django-q2's saved tasks (successes and failures, pruned after a week) whose arguments or
    result quote the number: a failure's result is its exception's text, and Twilio's errors
    name the number they refused. Tasks are not a business's, so any that quotes it."""
    from django_q.models import Task

    redacted = 0
    for task in Task.objects.only("pk", "args", "kwargs", "result").iterator(chunk_size=500):
        changed = {
            name: _redacted(getattr(task, name), number)
            for name in ("args", "kwargs", "result")
            if number.lstrip("+") in repr(getattr(task, name))
        }
        if changed:
            Task.objects.filter(pk=task.pk).update(**changed)
            redacted += 1
    return redacted
