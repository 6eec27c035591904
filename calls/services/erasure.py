"""Erasing a person's number from one business's rows when they ask: their lead is deleted, the
number is replaced in calls and requests, the raw callback parameters of those calls are dropped,
admin log entries naming those rows are redacted, and a NumberErasure records that it happened
(with a keyed hash of the number, never the number).

The number's do-not-call rows (calls.DoNotCall) are kept: honouring an opt-out is the law
(47 CFR 64.1200), and it cannot be honoured once forgotten."""

import json
import logging
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Replace
from django.utils.crypto import salted_hmac

from calls.audit import NumberErasure
from calls.models import CallEvent, CallLog, CallRequest
from calls.phone import to_e164
from calls.services.locks import business_lock
from leads.models import Lead
from webhooks.models import WebhookMessage

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
        CallRequest.objects.filter(pk__in=request_ids).update(
            to_number=ERASED,
            last_error=Replace(F("last_error"), Value(number), Value(ERASED)),
        )
        # A reason a webhook carries may quote the number (an error message from Twilio).
        for message in WebhookMessage.objects.filter(request_id__in=request_ids):
            text = json.dumps(message.payload)
            if number in text:
                message.payload = json.loads(text.replace(number, ERASED))
                message.save(update_fields=["payload"])
        for model, ids in ((Lead, lead_ids), (CallLog, call_ids), (CallRequest, request_ids)):
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
