import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_q.tasks import async_task

from calls.health import dialing_health
from calls.models import CallLog, Lease, Membership, WorkerHeartbeat
from calls.services.cleanup import CLEANUP_LEASE
from tests.e2e.live_stack import ROOT, free_port, production_env
from tests.recipes import aged, make_call, make_cleanup_run, make_heartbeat

TOKEN = "healthz-token-0123456789abcdef"
CHECKS = {"database", "broker", "cluster", "cleanup", "oldest_unsettled_call"}


@pytest.fixture
def healthy(worker_alive):
    return worker_alive


@pytest.fixture
def client(client, settings):
    """A client allowed the details: the bearer of HEALTHZ_TOKEN."""
    settings.HEALTHZ_TOKEN = TOKEN
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    return client


def test_all_well_is_200_with_each_check(client, healthy):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == CHECKS
    assert body["checks"]["broker"]["name"] == "ORM"
    succeeded_at = Lease.objects.get(name=CLEANUP_LEASE).last_succeeded_at
    assert body["checks"]["cleanup"]["age_seconds"] in aged(0, succeeded_at)


def test_a_cleanup_that_has_not_run_for_five_minutes_is_503(client, healthy):
    Lease.objects.filter(name="cleanup").update(
        last_succeeded_at=timezone.now() - timedelta(minutes=5, seconds=5)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cleanup"]["ok"] is False
    # A second may pass between the update and the request on a loaded machine.
    assert checks["cleanup"]["age_seconds"] in (305, 306)
    assert checks["database"]["ok"] is True


def test_a_cleanup_that_never_ran_is_503(client, db):
    make_heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cleanup"]["error"] == "the cleanup has never succeeded"


def test_a_silent_cluster_is_503(client, healthy):
    make_heartbeat(ago=timedelta(minutes=1, seconds=5))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cluster"] == {
        "ok": False,
        "age_seconds": 65,
        "clusters": 0,
        "error": "older than 60 s",
    }
    assert dialing_health() == ["No worker has checked in for 65 s: calls are not being placed."]


def test_a_worker_that_checked_in_within_the_minute_is_counted(client, healthy):
    make_heartbeat(ago=timedelta(seconds=50), cluster_id="second")
    make_heartbeat(ago=timedelta(minutes=3), cluster_id="gone")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["cluster"] == {"ok": True, "age_seconds": 0, "clusters": 2}
    assert dialing_health() == []


def test_a_worker_that_stopped_is_no_worker_running(client, db):
    make_cleanup_run()
    make_heartbeat(ago=timedelta(seconds=10), stopped=True)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cluster"]["error"] == "every worker has stopped"
    assert dialing_health() == [
        "No worker is running (the last stopped 10 s ago): calls are not being placed."
    ]


def test_no_worker_ever_and_no_cleanup_ever_each_say_so(client, db):
    assert not WorkerHeartbeat.objects.exists()
    assert client.get("/healthz").status_code == 503
    assert dialing_health() == [
        "No worker has ever checked in: calls are not being placed.",
        "The cleanup has never run: stuck calls are not being settled.",
    ]


def test_a_task_waiting_for_a_worker_past_three_minutes_is_503(client, healthy, queue):
    from django_q.models import OrmQ

    since = timezone.now()
    async_task("calls.tasks.dispatch", 1)
    async_task("calls.tasks.dispatch", 2)
    broker = client.get("/healthz").json()["checks"]["broker"]
    assert broker.pop("oldest_task_age_seconds") in aged(0, since)
    assert broker == {"ok": True, "name": "ORM", "queued": 2}
    since = timezone.now()
    OrmQ.objects.filter(pk=OrmQ.objects.order_by("id").first().pk).update(
        lock=since - timedelta(minutes=4)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["oldest_task_age_seconds"] in aged(240, since)
    assert dialing_health() == [
        "The oldest queued task has waited 4 min (2 waiting): the workers are not keeping up."
    ]


def test_a_call_unsettled_past_the_stuck_limit_is_503(client, healthy, business, settings):
    settings.STUCK_CALL_SECONDS = 60
    call = make_call(business, status="ringing")
    since = timezone.now()
    CallLog.objects.filter(pk=call.pk).update(created_at=since - timedelta(minutes=4))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["oldest_unsettled_call"]["age_seconds"] in aged(240, since)


def test_a_broker_that_is_down_is_503(client, healthy, monkeypatch):
    from django_q.brokers.orm import ORM

    def down(self):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(ORM, "ping", down)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "name": "ORM",
        "error": "broker unreachable",
    }


def terse(checks):
    return {name: {"ok": ok} for name, ok in checks.items()}


def test_a_stranger_learns_only_which_check_failed(client, healthy):
    del client.defaults["HTTP_AUTHORIZATION"]
    make_heartbeat(ago=timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "ok": False,
        "checks": terse(
            {"database": True, "broker": True, "cluster": False, "cleanup": True}
            | {"oldest_unsettled_call": True}
        ),
    }


@pytest.mark.parametrize("authorization", ["Bearer wrong-token", f"Basic {TOKEN}", "Bearer"])
def test_a_wrong_token_gets_no_details(client, healthy, authorization):
    client.defaults["HTTP_AUTHORIZATION"] = authorization
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == terse(dict.fromkeys(CHECKS, True))


def test_without_a_healthz_token_no_bearer_gets_details(client, healthy, settings):
    settings.HEALTHZ_TOKEN = ""
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer "
    assert client.get("/healthz").json()["checks"] == terse(dict.fromkeys(CHECKS, True))


@pytest.mark.parametrize(
    ("is_staff", "is_superuser", "details"),
    [(True, True, True), (True, False, False), (False, False, False)],
)
def test_only_a_superuser_s_session_gets_the_details(
    client, healthy, business, is_staff, is_superuser, details
):
    """A member of a business (a staff session) runs no part of the platform: the details
    (hosts in errors, the queue's size) are the platform's operators'."""
    del client.defaults["HTTP_AUTHORIZATION"]
    user = get_user_model().objects.create_user(
        "operator", is_staff=is_staff, is_superuser=is_superuser
    )
    Membership.objects.create(user=user, business=business, role="manager")
    client.force_login(user)
    checks = client.get("/healthz").json()["checks"]
    assert ("age_seconds" in checks["cleanup"]) is details


UNREACHABLE = """
import json, django
django.setup()
from django.test import Client
stranger = Client().get("/healthz")
session = Client(headers={"cookie": "sessionid=abc"}).get("/healthz")
bearer = Client(headers={"authorization": "Bearer %s"}).get("/healthz")
print(json.dumps([[r.status_code, r.content.decode()] for r in (stranger, session, bearer)]))
"""


def test_with_the_database_unreachable_a_stranger_sees_no_host_port_name_or_user():
    port = free_port()  # nothing listens there
    env = production_env(
        DATABASE_URL=f"postgres://secret_user:pw@127.0.0.1:{port}/secret_db_name",
        ALLOWED_HOSTS="testserver",
        HEALTHZ_TOKEN=TOKEN,
        SECURE_SSL_REDIRECT="true",  # /healthz is exempt: platforms probe it over plain HTTP
    )
    result = subprocess.run(
        [sys.executable, "-c", UNREACHABLE % TOKEN],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (stranger, session, bearer) = json.loads(result.stdout.splitlines()[-1])
    terse_body = {"ok": False, "checks": {"database": {"ok": False}}}
    assert stranger[0] == session[0] == 503
    assert json.loads(stranger[1]) == json.loads(session[1]) == terse_body
    for secret in (str(port), "127.0.0.1", "secret_db_name", "secret_user"):
        assert secret not in stranger[1] + session[1]
    # The details carry the driver's own words: what a stranger must not see.
    assert bearer[0] == 503
    assert str(port) in json.loads(bearer[1])["checks"]["database"]["error"]
