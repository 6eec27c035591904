"""The live stack for end-to-end tests: `stack_for(broker, ...)` starts one and stops it after."""

import pytest
from django.db import connection
from django_q.models import Schedule

from calls.schedule import CLEANUP_SCHEDULE, cleanup_schedule_ensure
from tests.e2e.live_stack import LiveStack, database_url
from tests.e2e.queue_checks import REDIS_URL, SETTINGS


@pytest.fixture
def stack_for(tmp_path):
    """Starts a stack on the test database (or `database`), on the ORM or the Redis broker.

    `fault_points` arms calls/faults.py; `schedule=False` leaves the cleanup to the test
    (`cleanup_run`), so it can count the runs a fault needs. A `database` of its own is migrated
    first.
    """
    stacks = []
    fault_dir = tmp_path / "faults"
    fault_dir.mkdir()

    def make(broker, workers=1, *, fault_points=(), schedule=True, database=None, env=None):
        env = {
            **SETTINGS,
            "FAULT_POINTS": ",".join(fault_points),
            "FAULT_DIR": str(fault_dir),
            **(env or {}),
        }
        stack = LiveStack(
            database_url=database or database_url(connection.settings_dict),
            redis_url=REDIS_URL if broker == "redis" else "",
            workers=workers,
            env=env,
            log_dir=tmp_path,
        )
        stacks.append(stack)
        if database:
            stack.manage("migrate", "--noinput")
        if schedule:
            cleanup_schedule_ensure(Schedule)  # flushed by earlier transactional tests
        else:
            Schedule.objects.filter(name=CLEANUP_SCHEDULE).delete()
        stack.start()
        stack.sim.configure(ring_seconds=0.3, call_seconds=1.0, cps=50, list_delay=0.5)
        return stack

    yield make
    for stack in stacks:
        assert stack.stop() == [], "a process did not stop on SIGTERM"
    connection.close()
