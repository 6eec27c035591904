from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Task
from model_bakery import baker

from calls.models import CallLog, Lease
from tests.recipes import make_call


@pytest.fixture
def healthy(db):
    now = timezone.now()
    Lease.objects.create(name="cleanup", held_until=now, last_succeeded_at=now)
    baker.make(Task, id="t1", name="cleanup", func="x", started=now, stopped=now, success=True)


def test_all_well_is_200_with_each_check(client, healthy):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {
        "database",
        "broker",
        "cluster",
        "cleanup",
        "oldest_unsettled_call",
    }
    assert body["checks"]["broker"]["name"] == "ORM"
    assert body["checks"]["cleanup"]["age_seconds"] == 0


def test_a_cleanup_that_has_not_run_for_five_minutes_is_503(client, healthy):
    Lease.objects.filter(name="cleanup").update(
        last_succeeded_at=timezone.now() - timedelta(minutes=5, seconds=5)
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cleanup"]["ok"] is False
    assert checks["cleanup"]["age_seconds"] == 305
    assert checks["database"]["ok"] is True


def test_a_cleanup_that_never_ran_is_503(client, db):
    Task.objects.all().delete()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cleanup"]["error"] == "the cleanup has never succeeded"


def test_a_silent_cluster_is_503(client, healthy):
    Task.objects.update(stopped=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["cluster"]["ok"] is False


def test_a_call_unsettled_past_the_stuck_limit_is_503(client, healthy, business, settings):
    settings.STUCK_CALL_SECONDS = 60
    call = make_call(business, status="ringing")
    CallLog.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(minutes=4))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["oldest_unsettled_call"]["age_seconds"] == 240


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
