"""The admin login is throttled per client address (django-axes), the address read as the
nearest trusted proxy saw it."""

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from config.client_ip import client_ip


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user(username="sam", password="right", is_staff=True)


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def login(client, password, address="203.0.113.5", forwarded=None):
    headers = {"REMOTE_ADDR": address}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(
        "/admin/login/?next=/admin/", {"username": "sam", "password": password}, **headers
    )


def test_a_right_password_logs_in(client, staff):
    assert login(client, "right").status_code == 302


def test_too_many_failures_lock_the_address_out_even_with_the_right_password(client, staff):
    for _ in range(2):
        assert login(client, "wrong").status_code == 200
    assert login(client, "wrong").status_code == 429
    response = login(client, "right")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not locked out.
    assert login(client, "right", address="198.51.100.7").status_code == 302


def test_behind_a_proxy_the_client_cannot_dodge_the_lock_by_forging_the_header(
    client, staff, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(3):
        login(client, "wrong", address="10.0.0.1", forwarded=f"192.0.2.{n}, 203.0.113.5")
    response = login(client, "right", address="10.0.0.1", forwarded="192.0.2.99, 203.0.113.5")
    assert response.status_code == 429
    # Someone else behind the same proxy logs in.
    assert login(client, "right", address="10.0.0.1", forwarded="198.51.100.7").status_code == 302


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "1.1.1.1", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, "1.1.1.1", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),
        (2, "6.6.6.6, 1.1.1.1, 172.16.0.2", "1.1.1.1"),
        (2, "1.1.1.1", "10.0.0.1"),
    ],
)
def test_the_client_address_is_the_one_the_nearest_trusted_proxy_saw(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
