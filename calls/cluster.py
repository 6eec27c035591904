"""Runs django-q2's cluster so that it stops within STOP_GRACE_SECONDS however it is signalled.

Platforms stop a worker by sending SIGTERM to every process of its group at once (Heroku, systemd's
control-group kill, `docker stop`, honcho, Ctrl-C in a terminal). django-q2 1.11 then hangs for
good: its sentinel keeps SIGTERM's default action and dies while waiting on the shared stop event
(`stop_event.wait()`, a multiprocessing Condition, since its PR #305), and the main process's
handler then waits in `stop_event.set()` for that dead waiter to wake. The handler also stops the
cluster from inside the signal handler, which deadlocks when the signal lands while the event's
lock is held (its issue #346).

So here only the main process acts on a stop signal, and outside signal context:
- every process the cluster forks starts with SIGTERM, SIGINT and SIGHUP blocked (a mask survives
  the sentinel resetting its handlers, and is inherited by each worker it forks or reincarnates);
- the main process's handler only records the signal; the main loop then sets the stop event, and
  the sentinel stops the cluster the way django-q2 does: the pusher stops taking tasks, each worker
  finishes the task in hand (and any it had prefetched), the monitor saves the results;
- past STOP_GRACE_SECONDS the cluster's processes are killed. A task cut short is handed back (the
  ORM broker leases it out again after `retry`) or lost (Redis); the scheduled cleanup repairs what
  it should have done, since the database is the truth and tasks are only nudges.

While it runs, the main process checks in every HEARTBEAT_SECONDS (a WorkerHeartbeat row), as
long as its sentinel lives: /healthz, the console and /metrics say when no worker has lately. It
logs one line when it starts and one when it stops.
"""

import logging
import os
import signal
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.db import DatabaseError, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Platforms wait 10 s (docker stop, honcho) to 30 s (Heroku) before SIGKILL: stop well before.
STOP_GRACE_SECONDS = 7.0
POLL_SECONDS = 0.1
# How often a running worker checks in; calls.health calls it silent after a minute.
HEARTBEAT_SECONDS = 10.0
# Check-ins of workers gone this long are deleted when a worker starts.
HEARTBEAT_KEPT = timedelta(days=1)


def cluster_run(*, grace_seconds: float = STOP_GRACE_SECONDS) -> int:
    """Starts a cluster and returns once it has stopped: 0 when asked to stop, 1 when its
    sentinel died by itself (so the platform restarts the worker)."""
    from django_q.cluster import Cluster

    os.register_at_fork(after_in_child=_block_stop_signals)
    cluster = Cluster()  # installs django-q2's own handlers, replaced here
    received = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: received.append(signum))
    cluster.start()
    heartbeat = Heartbeat(cluster)
    logger.info("Worker started: %s.", heartbeat.describe())
    heartbeat.prune()
    while not received and cluster.sentinel.is_alive():
        heartbeat.beat_if_due()
        time.sleep(POLL_SECONDS)
    if not received:
        logger.error("The cluster's sentinel exited (code %s).", cluster.sentinel.exitcode)
        return 1
    cluster_stop(cluster, grace_seconds=grace_seconds)
    heartbeat.beat(stopped=True)
    logger.info(
        "Worker stopped on %s after %s.",
        signal.Signals(received[0]).name,
        timedelta(seconds=round(time.monotonic() - heartbeat.started)),
    )
    return 0


class Heartbeat:
    """The main process's check-ins. Written only while the sentinel lives (the loop above), so a
    frozen or dead worker stops checking in; a database that cannot be reached is logged once
    per outage and tried again at the next beat."""

    def __init__(self, cluster):
        from django_q.conf import Conf

        self.cluster_id = cluster.cluster_id.hex
        self.pid = cluster.pid
        self.host = socket.gethostname()
        self.workers = Conf.WORKERS
        self.broker = "Redis" if Conf.REDIS else f"ORM ({Conf.ORM})"
        self.name = Conf.PREFIX
        self.started_at = timezone.now()
        self.started = time.monotonic()
        self.due = 0.0
        self.failing = False

    def describe(self) -> str:
        return (
            f"cluster {self.name} ({self.cluster_id[:8]}) on {self.host}, pid {self.pid}, "
            f"{self.workers} workers, broker {self.broker}"
        )

    def beat_if_due(self) -> None:
        if time.monotonic() >= self.due:
            self.due = time.monotonic() + HEARTBEAT_SECONDS
            self.beat()

    def beat(self, *, stopped: bool = False) -> None:
        from calls.models import WorkerHeartbeat

        now = timezone.now()
        try:
            WorkerHeartbeat.objects.update_or_create(
                cluster_id=self.cluster_id,
                defaults={"seen_at": now, "stopped_at": now if stopped else None},
                create_defaults={
                    "host": self.host[:255],
                    "pid": self.pid,
                    "workers": self.workers,
                    "broker": self.broker[:64],
                    "started_at": self.started_at,
                    "seen_at": now,
                    "stopped_at": now if stopped else None,
                },
            )
        except DatabaseError as error:
            if not self.failing:
                logger.warning("The worker cannot check in (the database): %s", error)
            self.failing = True
            connections.close_all()  # a broken connection is opened afresh at the next beat
            return
        if self.failing:
            logger.warning("The worker checks in again.")
        self.failing = False

    def prune(self) -> None:
        from calls.models import WorkerHeartbeat

        try:
            WorkerHeartbeat.objects.filter(seen_at__lt=timezone.now() - HEARTBEAT_KEPT).delete()
        except DatabaseError:
            connections.close_all()


def cluster_stop(cluster, *, grace_seconds: float) -> None:
    sentinel = cluster.sentinel
    deadline = time.monotonic() + grace_seconds
    # In a thread, because set() waits for every process parked on the event to wake: a sentinel
    # killed while waiting there (SIGKILL, the OOM killer) would hold the main process forever.
    threading.Thread(target=cluster.stop_event.set, daemon=True).start()
    sentinel.join(max(0.0, deadline - time.monotonic()))
    if not sentinel.is_alive():
        return
    logger.warning(
        "The cluster did not stop in %.0f s: killing it; a task cut short is handed back or "
        "repaired by the cleanup.",
        grace_seconds,
    )
    # Frozen first, so it cannot fork a replacement for a worker killed under it.
    os.kill(sentinel.pid, signal.SIGSTOP)
    for pid in _children(sentinel.pid):
        _kill(pid)
    _kill(sentinel.pid)
    sentinel.join()


def _block_stop_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux's /proc; elsewhere, none are found and the
    platform's own kill of the group takes them)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended while being read
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children
