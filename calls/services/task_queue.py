"""Queuing a task once the transaction that asked for it commits."""

import functools

from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

from calls.tasks import dispatch, fetch_call_price
from leads.tasks import create_lead_from_call

# Several per call: a success row for each would make django-q2's monitor the bottleneck (it
# prunes to save_limit under a lock for every row saved). Their failures are still saved.
UNSAVED_TASKS = {dispatch, create_lead_from_call, fetch_call_price}


@functools.cache
def queue_broker(cluster: str | None) -> Broker:
    """The broker of a cluster's queue, one per process. django-q2 makes a new one for every
    task it is not given one for: on Redis a new client, so a new TCP connection for each task
    (two for every call that ends). Redis's client is thread-safe and reconnects after a fork
    or an error; the ORM broker is a manager over the thread's own database connection."""
    return get_broker(cluster)


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
            broker=queue_broker(cluster),
            **options,
        ),
        robust=True,
    )
