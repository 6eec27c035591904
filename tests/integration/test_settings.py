import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config.checks import production_secret_problems
from tests.e2e.live_stack import ACCOUNT_SID, AUTH_TOKEN, SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
SECURITY_SWITCHES = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "TRUST_X_FORWARDED_PROTO",
    "PUBLIC_BASE_URL",
    "ALLOWED_HOSTS",
)
DEVELOPMENT_SWITCHES = (
    "WEBHOOK_ALLOW_HTTP",
    "WEBHOOK_ALLOW_PRIVATE_TARGETS",
    "FAULT_POINTS",
    "FAULT_DIR",
    "HEALTHZ_TOKEN",
    "METRICS_TOKEN",
)


def environment(**env):
    """This environment with DEBUG off and none of the settings under test, plus `env`."""
    unset = ("REDIS_URL", "DEBUG", "DATABASE_URL", "TWILIO_AUTH_TOKEN_PREVIOUS", *SECRETS)
    unset += SECURITY_SWITCHES + DEVELOPMENT_SWITCHES + ("TRUSTED_PROXY_COUNT",)
    environ = {k: v for k, v in os.environ.items() if k not in unset}
    return {**environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}


def run(command, **env):
    return subprocess.run(
        command, cwd=ROOT, env=environment(**env), capture_output=True, text=True, timeout=60
    )


def run_python(code, **env):
    result = run([sys.executable, "-c", f"import django; django.setup(); {code}"], **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def example_values():
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.partition("=") for line in lines if "=" in line and not line.startswith("#"))
    return {name: value for name, _, value in pairs}


REAL = {
    "SECRET_KEY": SECRET_KEY,
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "PUBLIC_BASE_URL": "https://calls.example.com",
    "ALLOWED_HOSTS": "calls.example.com",
}


BROKER = "from django_q.brokers import get_broker; print(type(get_broker()).__name__)"


def test_without_redis_url_the_orm_broker_is_used():
    assert run_python(BROKER) == "ORM"


def test_with_redis_url_the_redis_broker_is_used():
    assert run_python(BROKER, REDIS_URL="redis://127.0.0.1:6379/0") == "Redis"


def test_the_worker_command_is_the_one_that_stops_on_group_sigterm():
    from django.core.management import get_commands

    assert get_commands()["qcluster"] == "calls"


def test_the_cluster_settings_keep_retry_above_timeout():
    from django.conf import settings

    q = settings.Q_CLUSTER
    # A task may wait one timeout in the prefetch queue, then run for one.
    assert q["retry"] > 2 * q["timeout"] + 3
    assert q["queue_limit"] == q["workers"]
    assert q["guard_cycle"] == 0.5
    assert q["catch_up"] is False
    # The webhooks' cluster, by the same rules (calls/cluster.py sets each option it names).
    from calls.cluster import CONF_OPTIONS

    (webhooks,) = q["ALT_CLUSTERS"].values()
    assert list(q["ALT_CLUSTERS"]) == [settings.WEBHOOK_CLUSTER]
    assert webhooks["retry"] > 2 * webhooks["timeout"] + 3
    assert webhooks["queue_limit"] == webhooks["workers"]
    assert set(webhooks) <= set(CONF_OPTIONS)
    assert settings.WEBHOOK_TIMEOUT_SECONDS + 10 <= webhooks["timeout"] < q["timeout"]


def test_the_example_lists_every_setting_the_settings_read():
    source = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\("([A-Z_0-9]+)"', source))
    assert len(read) > 30
    assert read - set(example_values()) == set()


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    for name, value in REAL.items():
        setattr(settings, name, value)
    settings.TWILIO_AUTH_TOKEN_PREVIOUS = ""
    return settings


def test_real_values_have_no_problem(production):
    assert production_secret_problems() == []


def test_development_defaults_are_refused_naming_each(production):
    production.SECRET_KEY = production.DEV_SECRET_KEY
    production.TWILIO_ACCOUNT_SID = production.DEV_TWILIO_ACCOUNT_SID
    production.TWILIO_AUTH_TOKEN = production.DEV_TWILIO_AUTH_TOKEN
    assert production_secret_problems() == [
        "SECRET_KEY is not set.",
        "TWILIO_ACCOUNT_SID is not set.",
        "TWILIO_AUTH_TOKEN is not set.",
    ]


@pytest.mark.parametrize("name", SECRETS)
def test_each_placeholder_of_the_example_is_refused(production, name):
    setattr(production, name, example_values()[name])
    assert production_secret_problems() == [f"{name} is the placeholder from .env.example."]


@pytest.mark.parametrize("token", ["dev-auth-token", "your-auth-token"])
def test_a_previous_token_that_is_public_is_refused(production, token):
    production.TWILIO_AUTH_TOKEN_PREVIOUS = token
    assert production_secret_problems() == [
        "TWILIO_AUTH_TOKEN_PREVIOUS is a development or placeholder token."
    ]


def test_a_cleanup_killed_holding_its_lease_holds_back_one_run_at_most():
    from django.conf import settings

    # Longer than any run (django-q2 kills a task at its timeout), so runs never overlap; shorter
    # than a period and the scheduler's lateness (60 + 30 s), so the run after next always runs.
    assert settings.Q_CLUSTER["timeout"] < settings.CLEANUP_LEASE_SECONDS < 60 + 30


@pytest.mark.parametrize(
    "key", ["x" * 49, "ab" * 30, "change-me", "django-insecure-too-short-for-production"]
)
def test_a_short_or_plain_secret_key_is_refused(production, key):
    production.SECRET_KEY = key
    (problem,) = production_secret_problems()
    assert problem.startswith(f"SECRET_KEY is too short or too plain ({len(key)} characters")


def test_an_account_sid_that_is_not_one_is_refused(production):
    production.TWILIO_ACCOUNT_SID = "AC123"
    assert production_secret_problems() == [
        "TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits)."
    ]


def test_development_needs_no_secrets(production):
    production.DEBUG = True
    production.SECRET_KEY = production.DEV_SECRET_KEY
    assert production_secret_problems() == []


@pytest.mark.parametrize(
    "secret_key", [None, "change-me-to-50-or-more-random-characters"], ids=["unset", "example"]
)
def test_the_worker_refuses_to_start_naming_secret_key(secret_key):
    env = {"SECRET_KEY": example_values()["SECRET_KEY"]} if secret_key else {}
    result = run([sys.executable, "manage.py", "qcluster"], **env)
    assert result.returncode != 0
    assert "Refusing to start in production (DEBUG off): SECRET_KEY is " in result.stderr
    assert "TWILIO_ACCOUNT_SID is not set." in result.stderr
    assert "TWILIO_AUTH_TOKEN is not set." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["shell", "-c", "print('ran')"], ["runserver"], ["demo"]])
def test_every_other_command_refuses_on_a_development_secret(command):
    result = run([sys.executable, "manage.py", *command], **{**REAL, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY is not set." in result.stderr
    assert "ran" not in result.stdout


def test_a_command_starts_with_real_values():
    result = run([sys.executable, "manage.py", "shell", "-c", "print('ran')"], **REAL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ran")


@pytest.mark.parametrize(
    "command",
    [
        ["makemigrations", "--check", "--dry-run"],
        ["showmigrations", "calls"],
        ["sqlmigrate", "calls", "0001"],
        ["collectstatic", "--dry-run", "--noinput"],
    ],
)
def test_schema_and_build_commands_run_without_secrets(command):
    result = run([sys.executable, "manage.py", *command])
    assert result.returncode == 0, result.stderr


def test_migrate_runs_without_secrets(tmp_path):
    result = run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr


def test_the_web_entry_point_refuses_to_start_on_development_secrets():
    result = run([sys.executable, "-c", "import config.wsgi"])
    assert result.returncode != 0
    assert (
        "Refusing to start in production (DEBUG off): SECRET_KEY is not set. "
        "TWILIO_ACCOUNT_SID is not set. TWILIO_AUTH_TOKEN is not set." in result.stderr
    )


def test_the_deploy_check_reports_each_development_secret_without_crashing():
    result = run([sys.executable, "manage.py", "check", "--deploy"])
    assert result.returncode != 0
    for name in ("SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        assert f"(config.E001) {name} is not set." in result.stderr
    assert "Traceback" not in result.stderr


def test_the_deploy_check_is_clean_in_production_with_real_values():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], **REAL
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_production_is_https_only_by_default():
    code = (
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    assert run_python(code, **REAL) == "True 31536000 True True True True None"
    assert run_python(code, DEBUG="true") == "False 0 False False False False None"


def test_each_https_setting_can_be_turned_off_and_the_deploy_check_stays_clean():
    off = {
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
        "SECURE_HSTS_PRELOAD": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
    }
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    result = run(command, **REAL, **off)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_forwarded_proto_is_trusted_only_when_a_setting_says_a_proxy_sets_it():
    code = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"
    trusted = run_python(code, **REAL, TRUST_X_FORWARDED_PROTO="true")
    assert trusted == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert run_python(code, **REAL) == "None"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"PUBLIC_BASE_URL": "http://calls.example.com"}, "config.E002"),
        ({"ALLOWED_HOSTS": "other.example.com"}, "config.E003"),
    ],
)
def test_the_deploy_check_refuses_a_public_url_twilio_cannot_sign_for(env, error):
    result = run([sys.executable, "manage.py", "check", "--deploy"], **{**REAL, **env})
    assert result.returncode != 0
    assert f"({error})" in result.stderr
    assert "PUBLIC_BASE_URL" in result.stderr


UNSAFE = [
    ({"WEBHOOK_ALLOW_HTTP": "true"}, "WEBHOOK_ALLOW_HTTP is on"),
    ({"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}, "WEBHOOK_ALLOW_PRIVATE_TARGETS is on"),
    ({"FAULT_POINTS": "claim", "FAULT_DIR": "/tmp"}, "FAULT_POINTS is set (claim)"),
    ({"HEALTHZ_TOKEN": "x" * 31}, "HEALTHZ_TOKEN is 31 characters; at least 32"),
    ({"METRICS_TOKEN": "metrics"}, "METRICS_TOKEN is 7 characters; at least 32"),
]


@pytest.mark.parametrize(("env", "problem"), UNSAFE)
def test_production_refuses_to_start_with_a_development_switch_or_a_short_token(env, problem):
    worker = run([sys.executable, "manage.py", "shell", "-c", "print('ran')"], **REAL, **env)
    assert worker.returncode != 0
    assert f"Refusing to start in production (DEBUG off): {problem}" in worker.stderr
    assert "ran" not in worker.stdout
    web = run([sys.executable, "-c", "import config.wsgi"], **REAL, **env)
    assert web.returncode != 0 and problem in web.stderr
    check = run([sys.executable, "manage.py", "check", "--deploy"], **REAL, **env)
    assert check.returncode != 0 and f"(config.E005) {problem}" in check.stderr


def test_long_tokens_and_switches_off_start_and_development_may_use_the_switches():
    tokens = {"HEALTHZ_TOKEN": "h" * 32, "METRICS_TOKEN": "m" * 40}
    result = run([sys.executable, "manage.py", "shell", "-c", "print('ran')"], **REAL, **tokens)
    assert result.returncode == 0, result.stderr
    development = {"DEBUG": "true", "WEBHOOK_ALLOW_HTTP": "true", "FAULT_POINTS": "claim"}
    result = run([sys.executable, "manage.py", "shell", "-c", "print('ran')"], **development)
    assert result.returncode == 0, result.stderr


def test_the_example_trusts_no_proxy_it_may_not_have():
    """Copied as it is to a service without a proxy, a count of 1 would let every client name
    its own address in X-Forwarded-For and dodge the login lockout."""
    assert example_values()["TRUSTED_PROXY_COUNT"] == "0"


DEPLOY_CHECK = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]


@pytest.mark.parametrize(
    ("env", "warning"),
    [
        ({"TRUSTED_PROXY_COUNT": "1"}, "config.W001"),
        ({"TRUST_X_FORWARDED_PROTO": "true"}, "config.W002"),
        ({"TRUSTED_PROXY_COUNT": "1", "TRUST_X_FORWARDED_PROTO": "true"}, None),
        ({"TRUSTED_PROXY_COUNT": "2", "SECURE_SSL_REDIRECT": "false"}, None),
        ({}, None),
    ],
    ids=["count-without-a-proxy", "proxy-without-a-count", "heroku", "proxy-redirects", "none"],
)
def test_the_deploy_check_warns_when_the_trusted_proxies_contradict_the_rest(env, warning):
    result = run(DEPLOY_CHECK, **REAL, **env)
    if warning is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0
        assert f"({warning})" in result.stderr and "TRUSTED_PROXY_COUNT" in result.stderr


def test_passwords_pass_django_s_four_validators(django_user_model):
    from django.contrib.auth.password_validation import (
        get_default_password_validators,
        validate_password,
    )
    from django.core.exceptions import ValidationError

    names = {type(v).__name__ for v in get_default_password_validators()}
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    user = django_user_model(username="maria.lopez", email="maria.lopez@example.com")
    for weak, why in (
        ("Tr0ub4dor!", "too short"),
        ("password1234", "too common"),
        ("203948571029", "entirely numeric"),
        ("maria.lopez1", "too similar"),
    ):
        with pytest.raises(ValidationError, match=why):
            validate_password(weak, user)
    validate_password("correct horse battery staple", user)
