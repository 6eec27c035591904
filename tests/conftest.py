import threading
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from model_bakery import baker
from twilio.request_validator import RequestValidator

from calls import twilio_client
from calls.models import Business, CallLog


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks and racing connections)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def business(db):
    return baker.make(Business, name="Acme Plumbing", phone_number="+14155550100")


@pytest.fixture
def outbound_call(business):
    return baker.make(
        CallLog,
        business=business,
        direction=CallLog.Direction.OUTBOUND,
        from_number=business.phone_number,
        to_number="+14155550123",
        status=CallLog.Status.PENDING,
    )


def sign(path: str, params: dict) -> str:
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )


@pytest.fixture
def twilio_post(client):
    """POSTs form params to a webhook path, signed as Twilio signs (or with `signature`)."""

    def post(path, params, signature=None):
        return client.post(
            path,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=sign(path, params) if signature is None else signature,
        )

    return post


def race(*functions):
    """Runs the functions at once, each in its own thread and connection; their results."""
    barrier = threading.Barrier(len(functions))
    results = [None] * len(functions)

    def run(n):
        try:
            barrier.wait()
            results[n] = functions[n]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(functions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture(autouse=True)
def fast_dial_tokens(settings):
    """Calls per second high enough that no test waits for a token unless it sets its own."""
    settings.TWILIO_CALLS_PER_SECOND = 50


def queued_tasks():
    """(function, args) of every task waiting in django-q2's ORM broker queue."""
    from django_q.models import OrmQ

    return [(row.task["func"], row.task["args"]) for row in OrmQ.objects.order_by("id")]


@pytest.fixture
def queue(db):
    """An empty django-q2 queue; call it to list what was queued since."""
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    return queued_tasks


class FakeTwilio:
    """Stands in for calls.twilio_client: records every request, answers as told."""

    def __init__(self):
        self.created = []
        self.hung_up = []
        self.fetched = []
        self.create_error = None
        self.next_sid = 0
        self.calls = {}
        self.listing = []

    def call_create(self, **kwargs):
        self.created.append(kwargs)
        if self.create_error:
            raise self.create_error
        self.next_sid += 1
        return f"CA{self.next_sid:032x}"

    def call_fetch(self, *, sid):
        self.fetched.append(sid)
        if sid not in self.calls:
            raise twilio_client.TwilioError(
                kind=twilio_client.ErrorKind.REFUSED_NUMBER, code="20404", message="Not found"
            )
        return self.calls[sid]

    def call_list(self, *, to, from_, limit=50):
        return [c for c in self.listing if c.to == to and c.from_ == from_]

    def call_hang_up(self, *, sid):
        self.hung_up.append(sid)


@pytest.fixture
def fake_twilio(monkeypatch):
    fake = FakeTwilio()
    for name in ("call_create", "call_fetch", "call_list", "call_hang_up"):
        monkeypatch.setattr(twilio_client, name, getattr(fake, name))
    return fake
