"""A running worker's check-ins (calls/cluster.py Heartbeat): one row per cluster, moved forward
at each beat, stamped when it stops as asked; old rows pruned; a database that cannot be reached
logged once per outage and never raised into the worker's loop."""

import logging
import os
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from calls.cluster import HEARTBEAT_SECONDS, Heartbeat
from calls.health import health_checks
from calls.models import WorkerHeartbeat
from tests.recipes import make_heartbeat


def test_a_beat_records_the_worker_and_the_next_moves_it_forward(db):
    heartbeat = Heartbeat()
    heartbeat.beat()
    row = WorkerHeartbeat.objects.get()
    assert (row.cluster_id, row.pid, row.workers, row.stopped_at) == (
        heartbeat.cluster_id,
        os.getpid(),
        2,
        None,
    )
    assert row.broker == "ORM (default)"
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=5))
    assert health_checks()["cluster"]["ok"] is False
    heartbeat.beat()
    assert health_checks()["cluster"] == {"ok": True, "age_seconds": 0, "clusters": 1}
    assert WorkerHeartbeat.objects.count() == 1


def test_it_beats_only_when_due(db, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("calls.cluster.time.monotonic", lambda: clock[0])
    heartbeat = Heartbeat()
    beats = []
    monkeypatch.setattr(heartbeat, "beat", lambda: beats.append(clock[0]))
    for step in range(25):
        clock[0] = 1000.0 + step
        heartbeat.beat_if_due()
    assert beats == [1000.0, 1000.0 + HEARTBEAT_SECONDS, 1000.0 + 2 * HEARTBEAT_SECONDS]


def test_a_worker_that_stops_as_asked_is_stamped_stopped(db):
    heartbeat = Heartbeat()
    heartbeat.beat()
    heartbeat.beat(stopped=True)
    assert WorkerHeartbeat.objects.get().stopped_at is not None
    assert health_checks()["cluster"]["error"] == "every worker has stopped"


def test_rows_of_workers_gone_a_day_are_pruned_at_start(db):
    make_heartbeat(ago=timedelta(days=1, minutes=1), cluster_id="gone")
    make_heartbeat(ago=timedelta(hours=23), cluster_id="recent")
    Heartbeat().prune()
    assert list(WorkerHeartbeat.objects.values_list("cluster_id", flat=True)) == ["recent"]


def test_a_database_outage_is_logged_once_and_never_raised(db, monkeypatch, caplog):
    heartbeat = Heartbeat()

    def down(*args, **kwargs):
        raise DatabaseError("could not connect to server")

    closed = []
    monkeypatch.setattr(WorkerHeartbeat.objects, "update_or_create", down)
    # The test's own transaction must survive: only record that the connection was dropped.
    monkeypatch.setattr("calls.cluster.connections.close_all", lambda: closed.append(True))
    with caplog.at_level(logging.WARNING, logger="calls.cluster"):
        heartbeat.beat()
        heartbeat.beat()
    assert [r.getMessage() for r in caplog.records] == [
        "The worker cannot check in (the database): could not connect to server"
    ]
    assert closed == [True, True]  # opened afresh at each next beat
    monkeypatch.undo()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="calls.cluster"):
        heartbeat.beat()
    assert [r.getMessage() for r in caplog.records] == ["The worker checks in again."]
    assert WorkerHeartbeat.objects.count() == 1
