import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import Error

from config.checks import production_settings

ROOT = Path(__file__).resolve().parents[2]


def run_python(code, **env):
    environment = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DEBUG", "DATABASE_URL")
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


BROKER = "from django_q.brokers import get_broker; print(type(get_broker()).__name__)"


def test_without_redis_url_the_orm_broker_is_used():
    assert run_python(BROKER) == "ORM"


def test_with_redis_url_the_redis_broker_is_used():
    assert run_python(BROKER, REDIS_URL="redis://127.0.0.1:6379/0") == "Redis"


def test_the_cluster_settings_keep_retry_above_timeout():
    from django.conf import settings

    q = settings.Q_CLUSTER
    # A task may wait one timeout in the prefetch queue, then run for one.
    assert q["retry"] > 2 * q["timeout"] + 3
    assert q["queue_limit"] == q["workers"]
    assert q["guard_cycle"] == 0.5
    assert q["catch_up"] is False
    assert q["ALT_CLUSTERS"] == {}


def test_a_cleanup_killed_holding_its_lease_holds_back_one_run_at_most():
    from django.conf import settings

    # Longer than any run (django-q2 kills a task at its timeout), so runs never overlap; shorter
    # than a period and the scheduler's lateness (60 + 30 s), so the run after next always runs.
    assert settings.Q_CLUSTER["timeout"] < settings.CLEANUP_LEASE_SECONDS < 60 + 30


def test_production_names_each_missing_setting(settings):
    settings.MISSING_PRODUCTION_SETTINGS = ["SECRET_KEY", "TWILIO_AUTH_TOKEN"]
    errors = production_settings(None)
    assert [e.msg for e in errors] == ["SECRET_KEY is not set.", "TWILIO_AUTH_TOKEN is not set."]
    assert all(isinstance(e, Error) for e in errors)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, ["SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"]),
        (
            {"SECRET_KEY": "s", "TWILIO_ACCOUNT_SID": "AC1", "PUBLIC_BASE_URL": "https://x"},
            ["TWILIO_AUTH_TOKEN"],
        ),
        ({"DEBUG": "true"}, []),
    ],
)
def test_production_settings_are_required_unless_debug(env, missing):
    code = "from django.conf import settings; print(','.join(settings.MISSING_PRODUCTION_SETTINGS))"
    blank = {
        n: "" for n in ("SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")
    }
    assert run_python(code, **{**blank, **env}) == ",".join(missing)


def production_env():
    environment = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL")}
    for name in ("SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        environment[name] = ""
    return environment


def run(command, environment):
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_the_deploy_check_fails_in_production_without_settings():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        production_env(),
    )
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not set." in result.stderr


def test_the_web_entry_point_refuses_to_start_without_settings():
    result = run([sys.executable, "-c", "import config.wsgi"], production_env())
    assert result.returncode != 0
    assert (
        "Production (DEBUG off) needs these settings: SECRET_KEY, TWILIO_ACCOUNT_SID, "
        "TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL." in result.stderr
    )


def test_schema_commands_work_in_a_bare_checkout():
    result = run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], production_env()
    )
    assert result.returncode == 0, result.stderr
