"""Tasks are queued by their function after the transaction commits; a misspelt task fails when
the code is imported, not in a worker."""

import pydoc
import subprocess
import sys

import pytest
from django.db import transaction
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.utils import get_func_repr

from calls import tasks
from calls.services import task_queue
from calls.services.task_queue import task_queue_after_commit
from leads.tasks import create_lead_from_call
from tests.e2e.live_stack import ROOT


def test_nudges_are_not_saved_as_results_but_reconciles_are(
    db, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        task_queue_after_commit(tasks.dispatch, 1)
        task_queue_after_commit(create_lead_from_call, "CA1")
        task_queue_after_commit(tasks.reconcile_call, 7)
    saved = {get_func_repr(row.task["func"]): row.task["save"] for row in OrmQ.objects.all()}
    assert saved == {
        "calls.tasks.dispatch": False,
        "leads.tasks.create_lead_from_call": False,
        "calls.tasks.reconcile_call": True,
    }


def test_a_process_makes_one_broker_per_queue_not_one_per_task(
    db, queue, monkeypatch, settings, django_capture_on_commit_callbacks
):
    made = []

    def counted(cluster=None):
        made.append(cluster)
        return get_broker(cluster)

    task_queue.queue_broker.cache_clear()
    monkeypatch.setattr(task_queue, "get_broker", counted)
    with django_capture_on_commit_callbacks(execute=True):
        for key in (1, 2):
            with transaction.atomic():
                task_queue_after_commit(tasks.dispatch, key)
                task_queue_after_commit(create_lead_from_call, f"CA{key}")
                task_queue_after_commit(tasks.dispatch, key, cluster=settings.WEBHOOK_CLUSTER)
    task_queue.queue_broker.cache_clear()
    assert made == [None, settings.WEBHOOK_CLUSTER]
    rows = [
        (row.key, get_func_repr(row.task["func"]), row.task["args"])
        for row in OrmQ.objects.order_by("pk")
    ]
    dialing, webhooks = settings.Q_CLUSTER["name"], settings.WEBHOOK_CLUSTER
    assert rows == [
        (dialing, "calls.tasks.dispatch", (1,)),
        (dialing, "leads.tasks.create_lead_from_call", ("CA1",)),
        (webhooks, "calls.tasks.dispatch", (1,)),
        (dialing, "calls.tasks.dispatch", (2,)),
        (dialing, "leads.tasks.create_lead_from_call", ("CA2",)),
        (webhooks, "calls.tasks.dispatch", (2,)),
    ]


def test_nothing_is_queued_when_the_transaction_rolls_back(db, queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        task_queue_after_commit(tasks.dispatch, 1)
        raise RuntimeError
    assert queue() == []


def test_a_task_named_by_a_string_is_refused_where_it_is_queued(db, queue):
    with pytest.raises(TypeError, match="by its function"), transaction.atomic():
        task_queue_after_commit("calls.tasks.dispatch", 1)
    assert queue() == []


def test_a_misspelt_task_fails_at_import():
    code = "import django; django.setup(); from calls.tasks import dispatchh"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "cannot import name 'dispatchh' from 'calls.tasks'" in result.stderr


@pytest.mark.parametrize(
    "task", [tasks.dispatch, tasks.reconcile_call, tasks.hang_up_call, create_lead_from_call]
)
def test_a_worker_finds_each_task_by_the_name_it_is_queued_under(task):
    assert pydoc.locate(get_func_repr(task)) is task


def test_names_that_rows_and_runbooks_use_still_resolve():
    for name in (
        "calls.tasks.create_lead_from_call",
        "calls.tasks.cleanup_orphaned_calls",
        "calls.tasks.dispatch",
        "calls.tasks.reconcile_call",
        "calls.tasks.hang_up_call",
    ):
        assert callable(pydoc.locate(name)), name


def test_only_the_after_commit_helper_queues_tasks():
    callers = [
        str(path.relative_to(ROOT))
        for app in ("calls", "leads", "config")
        for path in (ROOT / app).rglob("*.py")
        if "async_task(" in path.read_text()
    ]
    assert callers == ["calls/services/task_queue.py"]
