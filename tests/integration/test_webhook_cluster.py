"""Webhook deliveries run in a django-q2 cluster of their own, so a slow receiver can never hold
a worker dialing needs: every path that queues a delivery (a settling, a redelivery, the
cleanup's nudge, a retry's schedule) queues it on the webhooks' queue, never on dialing's, and
only that cluster's scheduler fires a retry's schedule."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler
from django_q.utils import get_func_repr

from calls import tasks
from calls.models import CallRequest
from calls.services.cleanup import cleanup_run
from calls.services.task_queue import task_queue_after_commit
from tests.recipes import make_request
from webhooks.deliveries import messages_redeliver, retry_schedule
from webhooks.models import WebhookMessage

DELIVER = "webhooks.tasks.webhook_deliver"


def queued_by_queue():
    """{queue (django-q2's cluster name): [(function, args)]} of every task waiting."""
    queues = {}
    for row in OrmQ.objects.order_by("id"):
        queues.setdefault(row.key, []).append((get_func_repr(row.task["func"]), row.task["args"]))
    return queues


@pytest.fixture
def hooked(business):
    business.webhook_url = "https://8.8.8.8/hooks"
    business.save()
    return business


def test_the_webhook_cluster_is_a_second_cluster_of_the_same_name_and_key():
    assert settings.WEBHOOK_CLUSTER == f"{settings.Q_CLUSTER['name']}-webhooks"
    assert settings.WEBHOOK_CLUSTER != Conf.CLUSTER_NAME
    # Same name (PREFIX) and SECRET_KEY: the payloads are signed alike, so either cluster can
    # read what the other queues.
    assert Conf.PREFIX == settings.Q_CLUSTER["name"]


def test_a_settled_request_queues_its_delivery_on_the_webhook_queue(
    hooked, queue, django_capture_on_commit_callbacks
):
    request = make_request(hooked, status="active", attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        CallRequest.objects.filter(pk=request.pk).status_move("done")
    message = WebhookMessage.objects.get(request=request)
    assert queued_by_queue() == {settings.WEBHOOK_CLUSTER: [(DELIVER, (message.pk,))]}


def test_dialings_own_tasks_stay_on_the_dialing_queue(
    db, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        task_queue_after_commit(tasks.dispatch, 1)
    assert queued_by_queue() == {Conf.CLUSTER_NAME: [("calls.tasks.dispatch", (1,))]}


def test_a_redelivery_and_the_cleanups_nudge_queue_on_the_webhook_queue(
    hooked, queue, django_capture_on_commit_callbacks
):
    now = timezone.now()
    overdue, given_up = (
        WebhookMessage.objects.create(
            business=hooked,
            type="call_request.settled",
            payload={},
            next_attempt_at=due,
            retry_until=now + timedelta(hours=1),
            given_up_at=gave_up,
        )
        for due, gave_up in [(now - timedelta(minutes=2), None), (None, now)]
    )
    with django_capture_on_commit_callbacks(execute=True):
        cleanup_run()
        messages_redeliver(message_ids=[given_up.pk])
    webhook_queue = queued_by_queue().pop(settings.WEBHOOK_CLUSTER)
    assert webhook_queue == [(DELIVER, (overdue.pk,)), (DELIVER, (given_up.pk,))]
    dialing_queue = queued_by_queue().get(Conf.CLUSTER_NAME, [])
    assert DELIVER not in {func for func, _ in dialing_queue}


def test_a_retry_schedule_names_the_webhook_cluster(db):
    at = timezone.now() + timedelta(seconds=5)
    retry_schedule(message_id=7, at=at)
    retry_schedule(message_id=7, at=at)
    (schedule,) = Schedule.objects.filter(name="webhook:7")
    assert (schedule.cluster, schedule.func, schedule.next_run) == (
        settings.WEBHOOK_CLUSTER,
        DELIVER,
        at,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_only_the_webhook_clusters_scheduler_fires_a_retry_onto_its_queue(monkeypatch):
    """django-q2 1.11.1's scheduler fires a schedule whose `cluster` is its own name, and one
    with none only in the default cluster; a schedule it fires goes to its own broker."""
    OrmQ.objects.all().delete()
    retry_schedule(message_id=7, at=timezone.now() - timedelta(seconds=1))
    Schedule.objects.exclude(name="webhook:7").delete()

    scheduler()  # dialing's scheduler, as this process's Conf is dialing's
    assert Schedule.objects.filter(name="webhook:7").exists()
    assert not OrmQ.objects.exists()

    monkeypatch.setattr(Conf, "CLUSTER_NAME", settings.WEBHOOK_CLUSTER)
    scheduler()
    assert not Schedule.objects.filter(name="webhook:7").exists()  # ONCE: gone once fired
    assert queued_by_queue() == {settings.WEBHOOK_CLUSTER: [(DELIVER, (7,))]}


@pytest.mark.django_db(transaction=True)
def test_retry_schedules_made_before_the_webhook_cluster_are_moved_to_it():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    Schedule.objects.create(name="webhook:3", func=DELIVER, args="(3,)", schedule_type="O")
    Schedule.objects.create(name="cleanup-other", func="x.y", schedule_type="I", minutes=1)
    executor = MigrationExecutor(connection)
    executor.migrate([("webhooks", "0002_do_not_call_every_business_reasons_hidden")])
    executor.loader.build_graph()
    executor.migrate([("webhooks", "0003_retry_schedules_on_the_webhook_cluster")])
    clusters = dict(Schedule.objects.values_list("name", "cluster"))
    assert clusters["webhook:3"] == settings.WEBHOOK_CLUSTER
    assert clusters["cleanup-other"] is None


def test_a_delivery_deadline_that_does_not_fit_the_clusters_timeout_is_a_system_error(settings):
    from webhooks.checks import webhook_timeout_check

    assert webhook_timeout_check(None) == []
    settings.WEBHOOK_TIMEOUT_SECONDS = 25
    (error,) = webhook_timeout_check(None)
    assert error.id == "webhooks.E001"
    assert "Keep WEBHOOK_TIMEOUT_SECONDS at or below 20" in error.hint
