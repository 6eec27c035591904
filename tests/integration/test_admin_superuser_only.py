"""Admins that membership does not scope (the task queue, the login throttle, accounts, any app's
added later) are superusers' only, whatever Django permissions a member was granted: a granted
"add schedule" would let a member make the worker run any function."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django_q.models import Schedule

from calls.admin.scoping import ScopedAdmin
from tests.recipes import make_member


def unscoped_admins():
    registry = admin.site._registry.items()
    return sorted(
        (model for model, ma in registry if not isinstance(ma, ScopedAdmin)),
        key=lambda model: model._meta.label,
    )


@pytest.fixture
def granted(client, business):
    """A manager of `business` holding every Django permission there is."""
    user = make_member((business, "manager"), username="granted")
    user.user_permissions.set(Permission.objects.all())
    client.force_login(user)
    return user


def test_the_walk_covers_the_task_queue_the_throttle_and_accounts():
    labels = {model._meta.label for model in unscoped_admins()}
    assert {"django_q.Schedule", "django_q.Failure", "django_q.OrmQ", "django_q.Success"} <= labels
    assert {"axes.AccessAttempt", "auth.Group"} <= labels


def test_every_unscoped_admin_refuses_a_member_granted_every_permission(client, granted):
    Schedule.objects.create(func="math.floor", args="1", name="harmless")
    for model in unscoped_admins():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(base).status_code == 403, base
        assert client.get(f"{base}add/").status_code == 403, base
        row = model._default_manager.first()
        if row is not None:
            page = client.get(f"{base}{row.pk}/change/")
            assert page.status_code in (302, 403), base
            assert str(row).encode() not in page.content
    index = client.get("/admin/").content.decode()
    assert "/admin/django_q/" not in index


def test_a_member_granted_add_schedule_cannot_make_the_worker_run_a_function(client, granted):
    page = client.post(
        "/admin/django_q/schedule/add/",
        {
            "name": "evil",
            "func": "os.system",
            "args": "'touch /tmp/owned'",
            "schedule_type": "O",
            "repeats": "-1",
            "next_run_0": "2026-01-01",
            "next_run_1": "00:00:00",
        },
    )
    assert page.status_code == 403
    assert not Schedule.objects.filter(name="evil").exists()


def test_a_superuser_still_reads_the_task_queue(admin_client):
    assert admin_client.get("/admin/django_q/schedule/").status_code == 200
    assert admin_client.get("/admin/django_q/failure/").status_code == 200
