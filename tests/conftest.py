from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.db import connection
from django_q.utils import get_func_repr

from calls import twilio_client
from calls.models import Business
from tests.e2e.live_stack import FIELD_ENCRYPTION_KEY
from tests.recipes import make_cleanup_run, make_heartbeat, make_member, sign, twilio_call


def pytest_collection_modifyitems(config, items):
    # Under pytest-xdist (`make test` runs `-n auto --dist loadgroup`), the tests that start real
    # processes run one after another on one worker, while the rest share the other workers.
    for item in items:
        for kind in ("e2e", "browser"):
            if f"tests/{kind}/" in item.nodeid:
                item.add_marker(pytest.mark.xdist_group(kind))
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (row locks and racing connections)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def business(db):
    return Business.objects.create(name="Acme Plumbing", phone_number="+14155550100")


@pytest.fixture
def rival(db):
    """A second business, whose rows a member of `business` must never see or touch."""
    return Business.objects.create(name="Rival Roofing", phone_number="+14155550200")


@pytest.fixture
def worker_alive(db):
    """A worker that has just checked in and a cleanup that has just run: nothing is stale."""
    make_cleanup_run()
    return make_heartbeat()


@pytest.fixture
def member_client(client):
    """A client logged in (force_login: no password, so django-axes counts nothing) as a new
    staff user holding `role` in each business given."""

    def login(*memberships, username="alice"):
        user = make_member(*memberships, username=username)
        client.force_login(user)
        return client

    return login


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


@pytest.fixture(autouse=True)
def plain_http(settings):
    """The suite runs with DEBUG off, where every plain HTTP request is redirected to HTTPS; the
    test client speaks plain HTTP. tests/integration/test_settings.py checks the redirect."""
    settings.SECURE_SSL_REDIRECT = False


# The suite runs with DEBUG off, where no development key is given: secrets stored by a test
# are encrypted with this one, the key of the stacks it starts too (a stack reads what the test
# stored).
TEST_FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEY


@pytest.fixture(autouse=True)
def field_encryption_keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [TEST_FIELD_ENCRYPTION_KEY]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Admin tests log in many users; the production hasher's cost is for attackers, not tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fast_dial_tokens(settings):
    """Calls per second high enough that no test waits for a token unless it sets its own."""
    settings.TWILIO_CALLS_PER_SECOND = 50


class WindowClock:
    """The time calling windows are judged at (calls.clock.now), as a test sets it."""

    # A Wednesday, noon in California and 3 p.m. in New York: inside the default window for the
    # numbers the tests dial, whatever the hour the suite runs at. In the past, so a request
    # scheduled by this clock is due by the database's clock too.
    DEFAULT = datetime(2026, 1, 14, 20, 0, tzinfo=UTC)

    def __init__(self):
        self.at = self.DEFAULT

    def set(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture(autouse=True)
def window_clock(monkeypatch):
    clock = WindowClock()
    monkeypatch.setattr("calls.clock.now", clock.now)
    return clock


def queued_tasks():
    """(dotted name of the function, args) of every task waiting in django-q2's ORM broker."""
    from django_q.models import OrmQ

    rows = OrmQ.objects.order_by("id")
    return [(get_func_repr(row.task["func"]), row.task["args"]) for row in rows]


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
        # What Twilio answers a hang-up with: the call as it then is, or an error to raise.
        self.hang_up_status = "completed"
        self.hang_up_error = None
        # Call updates sent: (sid, twiml); and an error to raise instead.
        self.updated = []
        self.update_error = None
        # The account (twilio_accounts.credentials.Credentials) of each request, in order.
        self.accounts = []

    def call_create(self, *, account, **kwargs):
        self.accounts.append(account)
        self.created.append(kwargs)
        if self.create_error:
            raise self.create_error
        self.next_sid += 1
        return f"CA{self.next_sid:032x}"

    def call_fetch(self, *, account, sid):
        self.accounts.append(account)
        self.fetched.append(sid)
        if sid not in self.calls:
            raise twilio_client.TwilioError(
                kind=twilio_client.error_kind(code=20404, status=404),
                code="20404",
                message="Not found",
            )
        return self.calls[sid]

    def call_list(self, *, account, to, from_, limit=50):
        self.accounts.append(account)
        return [c for c in self.listing if c.to == to and c.from_ == from_]

    def call_hang_up(self, *, account, sid):
        self.accounts.append(account)
        self.hung_up.append(sid)
        if self.hang_up_error:
            raise self.hang_up_error
        return twilio_call(sid, self.hang_up_status)

    def call_update(self, *, account, sid, twiml):
        self.accounts.append(account)
        self.updated.append((sid, twiml))
        if self.update_error:
            raise self.update_error
        return twilio_call(sid, "in-progress")


@pytest.fixture
def fake_twilio(monkeypatch):
    fake = FakeTwilio()
    for name in ("call_create", "call_fetch", "call_list", "call_hang_up", "call_update"):
        monkeypatch.setattr(twilio_client, name, getattr(fake, name))
    return fake
