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
"""

import logging
import os
import signal
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Platforms wait 10 s (docker stop, honcho) to 30 s (Heroku) before SIGKILL: stop well before.
STOP_GRACE_SECONDS = 7.0
POLL_SECONDS = 0.1


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
    while not received and cluster.sentinel.is_alive():
        time.sleep(POLL_SECONDS)
    if not received:
        logger.error("The cluster's sentinel exited (code %s).", cluster.sentinel.exitcode)
        return 1
    logger.info("Stopping the cluster on %s.", signal.Signals(received[0]).name)
    cluster_stop(cluster, grace_seconds=grace_seconds)
    return 0


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
