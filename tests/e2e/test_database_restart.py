"""PostgreSQL restarted (a crash: `pg_ctl stop -m immediate`, then start) in the middle of a
campaign: callbacks during the outage answer 503, never 500; afterwards every call reaches
Twilio's outcome (reconcile hears what the lost callbacks said) and none is dialed twice.

The stack runs on a PostgreSQL cluster of its own, since the shared server serves other runs.
"""

import time

import pytest
from django.db import connection

from calls.models import CallLog
from tests.e2e.live_stack import PrivatePostgres
from tests.e2e.queue_checks import assert_each_call_has_twilios_outcome, make_business
from tests.e2e.test_faults import NUMBERS, drain, report

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 6


@pytest.fixture
def private_database(transactional_db):
    """A throwaway cluster with a `calls` database, which this test process also reads."""
    if PrivatePostgres.binaries() is None:
        pytest.skip("needs PostgreSQL's server binaries (initdb, pg_ctl) in /usr/lib/postgresql")
    server = PrivatePostgres().init("calls")
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(server.port), NAME="calls")
    yield server
    connection.close()
    connection.settings_dict.update(saved)
    server.destroy()


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_a_campaign_survives_a_postgresql_restart(private_database, stack_for, broker):
    stack = stack_for(broker, schedule=False, database=private_database.url("calls"))
    # Calls long enough to be live across the outage.
    stack.sim.configure(ring_seconds=0.5, call_seconds=3.0)
    business = make_business("Restart", "+14155550180", 3)
    numbers = NUMBERS + [n.replace("+1415777", "+1415778") for n in NUMBERS]
    started = time.time()
    stack.manage("enqueue_calls", "--business", str(business.pk), *numbers)
    stack.sim.wait_until(lambda calls: len(calls) >= 3, timeout=30)

    connection.close()
    private_database.stop()
    down_at = time.time()
    time.sleep(OUTAGE_SECONDS)
    private_database.start()
    up_at = time.time()

    runs = drain(stack, len(numbers), killed_at=up_at, timeout=180)
    assert all(not stuck for _, stuck in runs[2:]), runs
    records = assert_each_call_has_twilios_outcome(stack)
    assert sorted(r["to"] for r in records.values()) == sorted(numbers)
    assert not CallLog.objects.filter(status__in=CallLog.LIVE_STATUSES).exists()
    answers = [
        (event["at"], event["response_code"])
        for record in records.values()
        for event in record["timeline"]
        if event["event"] in ("callback", "answer_url")
    ]
    assert 503 in {code for _, code in answers}, "no callback came during the outage"
    assert 500 not in {code for _, code in answers}
    reconciled = CallLog.objects.filter(ended_by=CallLog.EndedBy.RECONCILE).count()
    print(
        f"\n[restart ({broker})] down {down_at - started:.1f}-{up_at - started:.1f} s, "
        f"answered 503: {sum(code == 503 for _, code in answers)}, reconciled {reconciled}"
    )
    report(f"postgresql restart ({broker})", started, up_at, runs, records)
