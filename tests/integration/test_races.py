"""Racing dispatchers and callbacks on PostgreSQL: the caps hold however many workers run."""

import random
import threading
import time

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from calls import twilio_client
from calls.models import Business, CallLog, CallRequest
from calls.services.callbacks import call_callback_record
from calls.services.dispatch import business_dispatch
from calls.services.status import StatusReport

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIVE = CallLog.LIVE_STATUSES


def test_eight_dispatchers_never_exceed_the_cap_or_double_dial(fake_twilio, settings, monkeypatch):
    settings.TWILIO_CALLS_PER_SECOND = 1000
    business = Business.objects.create(
        name="Race", phone_number="+14155550100", max_concurrent_calls=3
    )
    numbers = [f"+1415555{n:04d}" for n in range(2000, 2200)]
    CallRequest.objects.bulk_create(
        CallRequest(business=business, to_number=n, next_attempt_at=timezone.now()) for n in numbers
    )
    observed = []
    lock = threading.Lock()
    real_create = fake_twilio.call_create

    def create(**kwargs):
        # What the database holds as live at the moment Twilio is asked for one more call.
        live = CallLog.objects.filter(business=business, status__in=LIVE)
        # One query, one snapshot.
        counts = live.aggregate(n=Count("pk"), numbers=Count("to_number", distinct=True))
        counts = (counts["n"], counts["numbers"])
        with lock:
            observed.append(counts)
            return real_create(**kwargs)

    monkeypatch.setattr(twilio_client, "call_create", create)
    errors = []
    deadline = time.monotonic() + 120

    def worker(seed):
        rng = random.Random(seed)
        try:
            while time.monotonic() < deadline:
                business_dispatch(business_id=business.pk)
                live = list(
                    CallLog.objects.filter(business=business, status__in=LIVE)
                    .exclude(call_sid=None)
                    .values_list("pk", "call_sid")
                )
                if live:
                    pk, sid = rng.choice(live)
                    report = StatusReport(status="completed", sequence_number=9)
                    call_callback_record(
                        call=CallLog(pk=pk),
                        sid=sid,
                        report=report,
                        sip_response_code=200,
                        params={},
                    )
                elif not CallRequest.objects.filter(status__in=["queued", "active"]).exists():
                    return
        except Exception as error:  # reported below, with the thread that saw it
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(observed) == 200
    assert max(live for live, _ in observed) == 3
    assert all(distinct == live for live, distinct in observed)
    dialed = [c["to"] for c in fake_twilio.created]
    assert sorted(dialed) == numbers  # every number once, none twice
    assert set(CallRequest.objects.values_list("status", flat=True)) == {"done"}
    assert CallLog.objects.filter(status="completed").count() == 200


def test_the_database_refuses_a_second_live_call_for_one_request(business):
    from django.db import IntegrityError, transaction

    request = CallRequest.objects.create(
        business=business, to_number="+14155550123", next_attempt_at=timezone.now()
    )
    CallLog.objects.create(business=business, request=request, direction="outbound",
                           to_number="+14155550123")  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        CallLog.objects.create(business=business, request=request, direction="outbound",
                               to_number="+14155550124")  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        CallLog.objects.create(business=business, direction="outbound", to_number="+14155550123")
