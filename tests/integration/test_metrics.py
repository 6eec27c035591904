"""/metrics: Prometheus' text format, read from the database at scrape time, behind a bearer
token; not served at all without one."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from calls.models import Business, CallLog, EndedCallTally
from tests.recipes import aged, make_call, make_cleanup_run, make_heartbeat, make_request, sid

TOKEN = "s3cret-metrics-token"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client, token=TOKEN):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def ended(business, status, *, ago, placed=True):
    n = CallLog.objects.count()
    call = make_call(
        business, number=f"+1415555{n:04d}", status=status, call_sid=sid(n) if placed else None
    )
    CallLog.objects.filter(pk=call.pk).update(ended_at=timezone.now() - ago)


def test_it_reports_exactly_a_business_s_live_queued_and_cap(client, business, rival):
    Business.objects.filter(pk=business.pk).update(max_concurrent_calls=3)
    for k, status in enumerate(["ringing", "in-progress"]):
        make_call(business, number=f"+141555500{k:02d}", status=status)
    make_call(business, number="+14155550050", status="completed")  # ended: not live
    make_call(business, number="+14155550051", direction="inbound", status="in-progress")
    for k in range(5):
        make_request(business, number=f"+141555501{k:02d}")
    make_request(business, number="+14155550199", status="active")  # dialing: not queued
    Business.objects.filter(pk=rival.pk).update(paused_reason="Twilio refused it")
    samples = scrape(client)
    ours, theirs = (("business_id", str(business.pk)),), (("business_id", str(rival.pk)),)
    assert samples[("outbound_calls_live", ours)] == 2
    assert samples[("outbound_calls_queued", ours)] == 5
    assert samples[("outbound_calls_cap", ours)] == 3
    assert samples[("business_paused", ours)] == 0
    assert samples[("business_paused", theirs)] == 1
    assert samples[("outbound_calls_live", theirs)] == 0


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer ", f"Bearer {TOKEN}x"]
)
def test_without_the_token_it_refuses(client, business, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get("/metrics", **extra)
    assert response.status_code in (401, 403)
    assert b"outbound_calls" not in response.content


def test_without_a_token_set_it_does_not_exist(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_ended_calls_are_counted_once_as_they_end_and_only_grow(client, business):
    ended(business, "completed", ago=timedelta(hours=3))
    ended(business, "busy", ago=timedelta(minutes=5))
    ended(business, "busy", ago=timedelta(seconds=5))  # may still be committing: next scrape
    ended(business, "failed", ago=timedelta(minutes=5), placed=False)  # refused: never ended
    first = scrape(client)
    assert first[("calls_ended_total", (("status", "completed"),))] == 1
    assert first[("calls_ended_total", (("status", "busy"),))] == 1
    assert first[("calls_ended_total", (("status", "failed"),))] == 0
    # Retention deleting old calls lowers nothing; the recent call is counted once it settles.
    CallLog.objects.filter(status="completed").delete()
    # A minute and more passes: every time in the database moves back.
    CallLog.objects.update(ended_at=F("ended_at") - timedelta(seconds=70))
    EndedCallTally.objects.update(counted_until=F("counted_until") - timedelta(seconds=70))
    second = scrape(client)
    assert second[("calls_ended_total", (("status", "completed"),))] == 1
    assert second[("calls_ended_total", (("status", "busy"),))] == 2
    # A scrape with nothing new counts nothing twice.
    third = scrape(client)
    assert {k: v for k, v in third.items() if k[0] == "calls_ended_total"} == {
        k: v for k, v in second.items() if k[0] == "calls_ended_total"
    }


def test_it_reports_the_cleanup_s_age_and_the_task_backlog(client, business, queue):
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    async_task("calls.tasks.dispatch", business.pk)
    async_task("calls.tasks.dispatch", business.pk)
    since = timezone.now()
    OrmQ.objects.filter(pk=OrmQ.objects.order_by("id").first().pk).update(
        lock=since - timedelta(seconds=75)
    )
    samples = scrape(client)
    assert ("cleanup_last_success_age_seconds", ()) not in samples  # never succeeded yet
    assert samples[("task_queue_backlog", ())] == 2
    assert samples[("task_queue_oldest_age_seconds", ())] in aged(75, since)
    since = timezone.now()
    make_cleanup_run(ago=timedelta(seconds=90))
    assert scrape(client)[("cleanup_last_success_age_seconds", ())] in aged(90, since)


def test_it_reports_the_workers_that_checked_in_and_the_latest_check_in_s_age(client, db):
    samples = scrape(client)
    assert samples[("worker_clusters", ())] == 0
    assert ("worker_heartbeat_age_seconds", ()) not in samples  # none ever
    since = timezone.now()
    make_heartbeat(ago=timedelta(seconds=30), cluster_id="a")
    make_heartbeat(ago=timedelta(seconds=45), cluster_id="b")
    make_heartbeat(ago=timedelta(minutes=5), cluster_id="c")  # silent: not counted
    samples = scrape(client)
    assert samples[("worker_clusters", ())] == 2
    assert samples[("worker_heartbeat_age_seconds", ())] in aged(30, since)


def test_it_reports_each_business_s_last_hour_as_the_dashboard_counts_it(client, business, rival):
    at = timezone.now() - timedelta(minutes=10)
    person = make_call(business, status="completed", call_sid=sid(1), answered_at=at)
    machine = make_call(
        business, number="+14155550124", status="completed", call_sid=sid(2),
        answered_by="machine_end_beep",
    )  # fmt: skip
    make_call(business, number="+14155550125", status="failed", error_code="21210")  # refused
    make_call(business, number="+14155550126")  # pending, in flight
    old = make_call(business, number="+14155550127", status="busy", call_sid=sid(3))
    CallLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    CallLog.objects.filter(pk__in=[person.pk, machine.pk]).update(ended_at=at)
    samples = scrape(client)
    ours = {
        dict(labels)["count"]: value
        for (name, labels), value in samples.items()
        if name == "outbound_calls_last_hour" and dict(labels)["business_id"] == str(business.pk)
    }
    assert ours == {
        "attempts": 3,
        "placed": 2,
        "reached_person": 1,
        "reached_machine": 1,
        "ended": 2,
        "answered": 2,
    }
    theirs = (("business_id", str(rival.pk)), ("count", "placed"))
    assert samples[("outbound_calls_last_hour", theirs)] == 0
