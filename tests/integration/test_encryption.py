"""Secrets at rest: Twilio auth tokens and webhook secrets are Fernet tokens in the database,
read back in clear, re-encrypted by `rotate_encryption_keys`, and production refuses to start
without keys once one is stored."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from calls.models import Business
from config.checks import production_secret_problems
from config.encryption import EncryptedTextField, decrypt, encrypt
from tests.conftest import TEST_FIELD_ENCRYPTION_KEY
from twilio_accounts.models import TwilioAccount

TOKEN = "f3a9c1d2e4b5a6978877665544332211"
SUB_SID = "AC" + "a" * 32
NEW_KEY = Fernet.generate_key().decode()


def raw(table, column, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def account(db):
    return TwilioAccount.objects.create(
        account_sid=SUB_SID, auth_token=TOKEN, previous_auth_token="old" + TOKEN
    )


@pytest.fixture
def hooked(db):
    return Business.objects.create(
        name="Hooked", phone_number="+14155550111", webhook_url="https://hooks.example.com/x"
    )


def test_the_token_is_not_readable_in_the_database_row(account):
    stored = raw("twilio_accounts_twilioaccount", "auth_token", account.pk)
    previous = raw("twilio_accounts_twilioaccount", "previous_auth_token", account.pk)
    assert TOKEN not in stored and TOKEN not in previous
    assert stored.startswith("gAAAAA")
    assert Fernet(TEST_FIELD_ENCRYPTION_KEY).decrypt(stored.encode()).decode() == TOKEN
    account.refresh_from_db()
    assert (account.auth_token, account.previous_auth_token) == (TOKEN, "old" + TOKEN)


def test_a_webhook_secret_is_not_readable_in_the_database_row(hooked):
    secret = Business.objects.get(pk=hooked.pk).webhook_secret
    assert secret.startswith("whsec_")
    stored = raw("calls_business", "webhook_secret", hooked.pk)
    assert secret not in stored and stored.startswith("gAAAAA")


def test_no_secret_stays_empty_and_is_found_as_empty(business):
    assert raw("calls_business", "webhook_secret", business.pk) == ""
    assert Business.objects.filter(webhook_secret="").get() == business


def test_rotation_keeps_every_secret_readable_under_the_new_key_alone(settings, account, hooked):
    secret = Business.objects.get(pk=hooked.pk).webhook_secret
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, TEST_FIELD_ENCRYPTION_KEY]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))
    new = Fernet(NEW_KEY)
    for table, column, pk in [
        ("twilio_accounts_twilioaccount", "auth_token", account.pk),
        ("twilio_accounts_twilioaccount", "previous_auth_token", account.pk),
        ("calls_business", "webhook_secret", hooked.pk),
    ]:
        new.decrypt(raw(table, column, pk).encode())  # raises unless re-encrypted
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key removed
    account.refresh_from_db()
    assert (account.auth_token, account.previous_auth_token) == (TOKEN, "old" + TOKEN)
    assert Business.objects.get(pk=hooked.pk).webhook_secret == secret


def test_rotation_prints_what_it_re_encrypted(settings, account, hooked, capsys):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, TEST_FIELD_ENCRYPTION_KEY]
    call_command("rotate_encryption_keys")
    out = capsys.readouterr().out
    assert "twilio_accounts.TwilioAccount.auth_token: 1 re-encrypted" in out
    assert "calls.Business.webhook_secret: 1 re-encrypted" in out


def test_a_key_removed_before_the_rotation_is_a_clear_error_not_a_wrong_secret(settings, account):
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted with any key"):
        TwilioAccount.objects.get(pk=account.pk)


def test_without_keys_a_secret_can_be_neither_stored_nor_read(settings, db):
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS is not set"):
        TwilioAccount.objects.create(account_sid=SUB_SID, auth_token=TOKEN)


@hypothesis_settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(secret=st.text(min_size=1, max_size=200))
def test_any_text_comes_back_as_it_went_in_under_any_key_order(secret):
    from django.test import override_settings

    with override_settings(FIELD_ENCRYPTION_KEYS=[TEST_FIELD_ENCRYPTION_KEY]):
        token = encrypt(secret)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, TEST_FIELD_ENCRYPTION_KEY]):
        assert decrypt(token) == secret
        assert (
            EncryptedTextField().from_db_value(
                EncryptedTextField().get_prep_value(secret), None, None
            )
            == secret
        )


@pytest.fixture
def production(settings):
    from tests.integration.test_settings import REAL

    settings.DEBUG = False
    for name, value in REAL.items():
        setattr(settings, name, value)
    settings.TWILIO_AUTH_TOKEN_PREVIOUS = ""
    return settings


def test_production_refuses_to_start_without_keys_once_a_secret_is_stored(production, account):
    production.FIELD_ENCRYPTION_KEYS = []
    assert production_secret_problems() == [
        "FIELD_ENCRYPTION_KEYS is not set, and the database holds encrypted secrets (Twilio "
        "auth tokens, webhook secrets)."
    ]


def test_production_starts_without_keys_while_no_secret_is_stored(production, business):
    production.FIELD_ENCRYPTION_KEYS = []
    assert production_secret_problems() == []


def test_production_refuses_the_development_key_and_a_key_that_is_not_one(production, db):
    production.FIELD_ENCRYPTION_KEYS = [production.DEV_FIELD_ENCRYPTION_KEY, "not-a-key"]
    assert production_secret_problems() == [
        "FIELD_ENCRYPTION_KEYS key 2 is not a Fernet key (32 url-safe base64-encoded bytes).",
        "FIELD_ENCRYPTION_KEYS holds the development key.",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_the_webhook_secrets_stored_in_clear_before_it():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("calls", "0021_console_counts_and_heartbeats")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calls_business (name, phone_number, max_concurrent_calls, max_attempts, "
            "retry_delay_seconds, is_active, paused_reason, allowed_recording_hosts, "
            "extra_twiml_verbs, time_zone, window_start_hour, window_end_hour, window_days, "
            "webhook_url, webhook_secret, created_at, updated_at) VALUES ('Old', '+14155550177', "
            "3, 3, 300, true, '', '', '[]', 'UTC', 8, 21, '[1,2,3,4,5,6,7]', "
            "'https://hooks.example.com/x', 'whsec_clear', %s, %s)",
            ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"],
        )
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    old = Business.objects.get(phone_number="+14155550177")
    assert old.webhook_secret == "whsec_clear"
    assert raw("calls_business", "webhook_secret", old.pk).startswith("gAAAAA")
