"""Queuing a task once the transaction that asked for it commits."""

from django.db import transaction
from django_q.tasks import async_task

from calls.tasks import dispatch, fetch_call_price
from leads.tasks import create_lead_from_call

# Several per call: a success row for each would make django-q2's monitor the bottleneck (it
# prunes to save_limit under a lock for every row saved). Their failures are still saved.
UNSAVED_TASKS = {dispatch, create_lead_from_call, fetch_call_price}


def task_queue_after_commit(task, key, *, cluster: str | None = None) -> None:
    """Queues `task(key)` once the transaction commits; `task` is the function, not its name;
    `cluster` names the django-q2 cluster (queue) that runs it, dialing's when None.

    A broker that is down must not turn a committed webhook into a 500: the cleanup re-queues
    whatever a lost nudge should have done, so the failure is only logged (robust=True).
    """
    if not callable(task):
        raise TypeError(f"Queue a task by its function, not by {task!r}.")
    options = {"cluster": cluster} if cluster else {}
    transaction.on_commit(
        lambda: async_task(
            task,
            key,
            task_name=f"{task.__name__}:{key}",
            save=task not in UNSAVED_TASKS,
            **options,
        ),
        robust=True,
    )
