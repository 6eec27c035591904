"""The Procfile's worker line, with its two clusters (dialing's and the webhook deliveries'),
stopped as platforms stop it: SIGTERM to every process of its group at once (Heroku, systemd's
control-group kill, `docker stop`, honcho). On both brokers every process is gone within 10 s,
and nothing queued on either cluster before a stop is lost: a task finishes before its worker
stops, or it is still queued and runs after the restart. A task longer than the stop's grace is
cut short: the ORM broker hands it back (its lease ends and it runs again); Redis loses it, as
with a worker killed by kill -9, and the cleanup repeats what it should have done
(`test_end_to_end.py` drains a queue through such a loss on Redis). A worker whose task is
blocked in C past its timeout is killed, and its cluster serves on."""

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ, Task

from calls.cluster import STOP_GRACE_SECONDS
from tests.e2e.live_stack import (
    ROOT,
    database_url,
    live_members,
    production_env,
    wait_until_gone,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = "redis://127.0.0.1:6379/15"
STOP_SECONDS = 10
TASK_TIMEOUT = 2


def procfile_line(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.partition(":")[2].strip()
    raise AssertionError(f"the Procfile has no {name} line")


class Worker:
    """The Procfile's worker line run as a platform runs it: `sh -c` in a process group of its
    own, on a cluster name of its own (so parallel runs never share a queue)."""

    def __init__(self, broker, log_dir):
        self.env = production_env(
            DATABASE_URL=database_url(connection.settings_dict),
            REDIS_URL=REDIS_URL if broker == "redis" else "",
            Q_CLUSTER_NAME=f"stop-{uuid.uuid4().hex[:8]}",
            DJANGO_Q_LOG_LEVEL="INFO",
        )
        self.log_path = log_dir / "worker.log"
        self.process = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["sh", "-c", procfile_line("worker")], cwd=ROOT, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def cluster(self, which: str) -> str:
        """The queue (django-q2 cluster name) of `which` cluster: dialing's or webhooks'."""
        name = self.env["Q_CLUSTER_NAME"]
        return {"dialing": name, "webhooks": f"{name}-webhooks"}[which]

    def queue(self, func: str, *args, count=1, **options) -> list[str]:
        """Queues `count` tasks as the service does, from a process sharing the worker's settings
        (same cluster name and SECRET_KEY, which sign the payload); `options` go to async_task
        (`cluster`, `timeout`)."""
        code = (
            "from django_q.tasks import async_task; "
            f"print(*(async_task({func!r}, *{args!r}, **{options!r}) for _ in range({count})))"
        )
        result = subprocess.run(
            ["python", "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT, env=self.env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    def stop_group(self) -> list[int]:
        """SIGTERM to every process of the group at once; returns the processes left after 10 s."""
        os.killpg(self.process.pid, signal.SIGTERM)
        left = wait_until_gone(self.process, STOP_SECONDS)
        if left:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return left

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self):
        if self.process and live_members(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def worker_for(tmp_path):
    workers = []

    def make(broker):
        workers.append(Worker(broker, tmp_path))
        return workers[-1]

    yield make
    for worker in workers:
        worker.kill()  # only after a failure: the tests stop their workers themselves


def wait_for_results(ids, timeout):
    deadline = time.monotonic() + timeout
    while (done := Task.objects.filter(id__in=ids, success=True).count()) < len(ids):
        assert time.monotonic() < deadline, f"{done} of {len(ids)} tasks ran"
        time.sleep(0.1)


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_the_worker_stops_within_10_s_on_group_sigterm_three_times_and_loses_nothing(
    broker, worker_for
):
    worker = worker_for(broker)
    queued = []
    for _ in range(3):
        worker.start()
        tasks = worker.queue("time.sleep", 0.3, count=6)
        deliveries = worker.queue("time.sleep", 0.3, count=6, cluster=worker.cluster("webhooks"))
        queued += tasks + deliveries
        # Stopped once both are working: a task in hand, others prefetched or still queued.
        wait_for_results(tasks[:1] + deliveries[:1], timeout=60)
        assert worker.stop_group() == [], worker.log()
        assert worker.process.returncode == 0, worker.log()
        assert "did not stop" not in worker.log()

    worker.start()
    wait_for_results(queued, timeout=60)
    assert worker.stop_group() == [], worker.log()


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_a_task_longer_than_the_grace_is_cut_short_within_10_s(broker, worker_for):
    worker = worker_for(broker)
    worker.start()
    (task_id,) = worker.queue("time.sleep", 60)
    deadline = time.monotonic() + 60
    while "processing" not in worker.log():  # a worker has it in hand
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.1)

    assert worker.stop_group() == [], worker.log()
    assert f"did not stop in {STOP_GRACE_SECONDS:.0f} s" in worker.log()
    assert not Task.objects.filter(id=task_id).exists()
    if broker == "orm":
        # Handed back: still queued, leased until its lease ends, then run again.
        # (Its payload is signed with the worker's key and cluster name, so it is not read here.)
        (row,) = OrmQ.objects.filter(key=worker.env["Q_CLUSTER_NAME"])
        assert row.lock > timezone.now()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("cluster", ["dialing", "webhooks"])
def test_a_worker_blocked_in_c_past_its_timeout_is_killed_and_its_cluster_serves_on(
    cluster, worker_for, tmp_path
):
    worker = worker_for("orm")
    worker.start()
    queue = worker.cluster(cluster)
    pid_path = tmp_path / "pid"
    try:
        worker.queue(
            "tests.e2e.blocking_tasks.pg_sleep_noting_pid", str(pid_path), 60,
            cluster=queue, timeout=TASK_TIMEOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not pid_path.exists():
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.1)
        pid = int(pid_path.read_text())
        # django-q2's guard acts 3 s past the task's timeout, within a guard cycle.
        deadline = time.monotonic() + TASK_TIMEOUT + 3 + 10
        while alive(pid):
            assert time.monotonic() < deadline, f"worker {pid} outlived its timeout\n{worker.log()}"
            time.sleep(0.1)
        assert f"killing worker {pid}, still running past its task's timeout" in worker.log()
        served = worker.queue("time.sleep", 0.1, count=4, cluster=queue)
        wait_for_results(served, timeout=30)
        assert worker.stop_group() == [], worker.log()
    finally:
        # The killed worker's query sleeps on in the server until it notices: end it, or the
        # test database cannot be dropped.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND query LIKE '%%pg_sleep%%'"
            )
