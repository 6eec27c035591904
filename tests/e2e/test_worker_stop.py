"""The Procfile's worker line, stopped as platforms stop it: SIGTERM to every process of its group
at once (Heroku, systemd's control-group kill, `docker stop`, honcho). On both brokers every
process is gone within 10 s, and nothing queued before a stop is lost: a task finishes before its
worker stops, or it is still queued and runs after the restart. A task longer than the stop's
grace is cut short: the ORM broker hands it back (its lease ends and it runs again); Redis loses
it, as with a worker killed by kill -9, and the cleanup repeats what it should have done
(`test_end_to_end.py` drains a queue through such a loss on Redis)."""

import os
import signal
import subprocess
import time
import uuid

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

    def queue(self, func: str, *args, count=1) -> list[str]:
        """Queues `count` tasks as the service does, from a process sharing the worker's settings
        (same cluster name and SECRET_KEY, which sign the payload)."""
        code = (
            "from django_q.tasks import async_task; "
            f"print(*(async_task({func!r}, *{args!r}) for _ in range({count})))"
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
        queued += tasks
        # Stopped once it is working: a task in hand, others prefetched or still queued.
        wait_for_results(tasks[:1], timeout=60)
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
