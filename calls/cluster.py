"""Runs the worker: django-q2's clusters for dialing and for webhook deliveries, stopped within
STOP_GRACE_SECONDS however it is signalled, each worker killed once past its task's timeout.

**Two clusters, one command.** Dialing's tasks (dispatch, reconcile, hang-ups, leads, the
cleanup) run in the default cluster (`Q_CLUSTER["name"]`); webhook deliveries in a cluster of
their own (`settings.WEBHOOK_CLUSTER`, its options in `Q_CLUSTER["ALT_CLUSTERS"]`): a queue of
their own on the broker, a sentinel, a pool of workers and a scheduler of their own, so a
business's slow endpoint can only ever hold delivery workers, never the ones dialing needs.
django-q2 runs one cluster per process and reads which from the environment at import
(`Q_CLUSTER_NAME` plus that name's ALT_CLUSTERS options); here each sentinel is forked with
django-q2's settings (`Conf`) set to its cluster's before it builds its broker and pool, so the
Procfile keeps one `worker` line. Every cluster in ALT_CLUSTERS runs beside the default one.

**Stopping.** Platforms stop a worker by sending SIGTERM to every process of its group at once
(Heroku, systemd's control-group kill, `docker stop`, honcho, Ctrl-C in a terminal).
django-q2 1.11 then hangs for good: its sentinel keeps SIGTERM's default action and dies while
waiting on the shared stop event (`stop_event.wait()`, a multiprocessing Condition, since its PR
#305), and the main process's handler then waits in `stop_event.set()` for that dead waiter to
wake. The handler also stops the cluster from inside the signal handler, which deadlocks when
the signal lands while the event's lock is held (its issue #346). So only the main process acts
on a stop signal, and outside signal context:
- every process the clusters fork starts with SIGTERM, SIGINT and SIGHUP blocked, since each
  needs to outlive a group SIGTERM for the stop to be clean: the sentinel drains its cluster,
  a worker finishes the task in hand, the pusher never drops a task it popped from Redis, the
  monitor saves the results (a mask survives the sentinel resetting its handlers, and is
  inherited by each worker it forks or reincarnates);
- the main process's handler only records the signal; the main loop then sets each cluster's
  stop event, and each sentinel stops its cluster the way django-q2 does: the pusher stops
  taking tasks, each worker finishes the task in hand (and any it had prefetched), the monitor
  saves the results;
- past STOP_GRACE_SECONDS the clusters' processes are killed. A task cut short is handed back
  (the ORM broker leases it out again after `retry`) or lost (Redis); the scheduled cleanup
  repairs what it should have done, since the database is the truth and tasks are only nudges.

**Heartbeat.** While it runs, the main process checks in every HEARTBEAT_SECONDS (a
WorkerHeartbeat row), as long as every sentinel lives: /healthz, the console and /metrics say
when no worker has lately. It logs one line when it starts and one when it stops.

**Timeouts.** django-q2's guard ends a worker past its task's timeout with SIGTERM, which the
mask above blocks; and a task blocked in C (a lock wait, `pg_sleep`, `getaddrinfo`) never
reaches Python's SIGALRM handler either. The worker would run on beside its replacement, so
the sentinel here kills it with SIGKILL, which no mask holds back.
"""

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import DatabaseError, connections
from django.utils import timezone

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# How often a running worker checks in; calls.health calls it silent after a minute.
HEARTBEAT_SECONDS = 10.0
# Check-ins of workers gone this long are deleted when a worker starts.
HEARTBEAT_KEPT = timedelta(days=1)
# Platforms wait 10 s (docker stop, honcho) to 30 s (Heroku) before SIGKILL: stop well before.
STOP_GRACE_SECONDS = 7.0
POLL_SECONDS = 0.1
# A worker whose task raised django-q2's TimeoutException exits by itself once it has handed
# its result over; only one still running after this is killed.
TIMED_OUT_EXIT_SECONDS = 1.0
# ALT_CLUSTERS options and the django-q2 settings (Conf attributes) each one sets.
CONF_OPTIONS = {
    "workers": "WORKERS",
    "queue_limit": "QUEUE_LIMIT",
    "timeout": "TIMEOUT",
    "retry": "RETRY",
    "recycle": "RECYCLE",
    "max_rss": "MAX_RSS",
    "save_limit": "SAVE_LIMIT",
    "poll": "POLL",
}


@dataclass
class RunningCluster:
    name: str
    sentinel: object  # multiprocessing.Process
    stop_event: object  # multiprocessing.Event


def cluster_names() -> list[str]:
    """The default cluster first, then every alternative one."""
    from django.conf import settings

    return [settings.Q_CLUSTER["name"], *settings.Q_CLUSTER["ALT_CLUSTERS"]]


def cluster_run(*, grace_seconds: float = STOP_GRACE_SECONDS) -> int:
    """Starts the clusters and returns once they have stopped: 0 when asked to stop, 1 when a
    sentinel died by itself (the others are then stopped, so the platform restarts the
    worker)."""
    from django import db

    os.register_at_fork(after_in_child=_block_stop_signals)
    received = []
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda signum, frame: received.append(signum))
    db.connections.close_all()  # a forked sentinel must not share this process's connection
    clusters = [cluster_start(name) for name in cluster_names()]
    heartbeat = Heartbeat()
    logger.info("Worker started: %s.", heartbeat.describe())
    heartbeat.prune()
    while not received and all(cluster.sentinel.is_alive() for cluster in clusters):
        heartbeat.beat_if_due()
        time.sleep(POLL_SECONDS)
    for cluster in clusters:
        if not received and not cluster.sentinel.is_alive():
            logger.error(
                "The sentinel of cluster %s exited (code %s): stopping the worker.",
                cluster.name,
                cluster.sentinel.exitcode,
            )
    clusters_stop(clusters, grace_seconds=grace_seconds)
    heartbeat.beat(stopped=True)
    logger.info(
        "Worker stopped on %s after %s.",
        signal.Signals(received[0]).name if received else "a sentinel's exit",
        timedelta(seconds=round(time.monotonic() - heartbeat.started)),
    )
    return 0 if received else 1


def cluster_start(name: str) -> RunningCluster:
    from django_q.cluster import get_mp_context

    context = get_mp_context()
    stop_event, start_event = context.Event(), context.Event()
    sentinel = context.Process(
        target=_sentinel_run, args=(name, stop_event, start_event), name=f"Sentinel {name}"
    )
    sentinel.start()
    return RunningCluster(name, sentinel, stop_event)


def clusters_stop(clusters: list[RunningCluster], *, grace_seconds: float) -> None:
    deadline = time.monotonic() + grace_seconds
    for cluster in clusters:
        # In a thread, because set() waits for every process parked on the event to wake: a
        # sentinel killed while waiting there (SIGKILL, the OOM killer) would hold this forever.
        threading.Thread(target=cluster.stop_event.set, daemon=True).start()
    for cluster in clusters:
        cluster.sentinel.join(max(0.0, deadline - time.monotonic()))
    left = [cluster for cluster in clusters if cluster.sentinel.is_alive()]
    if not left:
        return
    logger.warning(
        "Cluster %s did not stop in %.0f s: killing it; a task cut short is handed back or "
        "repaired by the cleanup.",
        ", ".join(cluster.name for cluster in left),
        grace_seconds,
    )
    for cluster in left:
        sentinel = cluster.sentinel
        # Frozen first, so it cannot fork a replacement for a worker killed under it.
        os.kill(sentinel.pid, signal.SIGSTOP)
        for pid in _children(sentinel.pid):
            _kill(pid)
        _kill(sentinel.pid)
        sentinel.join()


class Heartbeat:
    """The main process's check-ins. Written only while the sentinel lives (the loop above), so a
    frozen or dead worker stops checking in; a database that cannot be reached is logged once
    per outage and tried again at the next beat. One row per worker command, whose clusters
    (dialing's and the deliveries') live and die together."""

    def __init__(self):
        from django_q.conf import Conf

        self.cluster_id = uuid.uuid4().hex
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.workers = Conf.WORKERS
        self.broker = "Redis" if Conf.REDIS else f"ORM ({Conf.ORM})"
        self.name = ", ".join(cluster_names())
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


def conf_apply(name: str) -> None:
    """Sets django-q2's settings in this process to cluster `name`'s: its name (the queue it
    reads, the schedules it fires) and its ALT_CLUSTERS options."""
    from django.conf import settings
    from django_q.conf import Conf

    if name == Conf.PREFIX:
        return
    Conf.CLUSTER_NAME = name
    for option, value in settings.Q_CLUSTER["ALT_CLUSTERS"][name].items():
        setattr(Conf, CONF_OPTIONS[option], value)


def _sentinel_run(name, stop_event, start_event) -> None:
    """The sentinel process of cluster `name`: guards its pool until the stop event."""
    from django_q.cluster import Sentinel

    class TimeoutKillingSentinel(Sentinel):
        def reincarnate(self, process):
            # Called with the worker's timer lock held; a timer at 0 means past its timeout.
            if process in self.pool and process.timer.value == 0:
                process.join(TIMED_OUT_EXIT_SECONDS)
                if process.is_alive():
                    logger.warning(
                        "Cluster %s: killing worker %s, still running past its task's timeout.",
                        name,
                        process.pid,
                    )
                    _kill(process.pid)
                    process.join()
            super().reincarnate(process)

    conf_apply(name)
    TimeoutKillingSentinel(stop_event, start_event, uuid.uuid4())


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
