"""Racing API requests on PostgreSQL: retries with one Idempotency-Key queue one call, and a
key's throttle never lets more than its rate through."""

import pytest
from django.test import Client

from api.models import ApiKey
from calls.models import Business, CallRequest
from tests.api_client import ApiClient, api_for
from tests.racing import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def business():
    return Business.objects.create(name="Acme Plumbing", phone_number="+14155550100")


def test_racing_retries_with_one_idempotency_key_queue_one_call(business):
    key = api_for(Client(), business).key

    def post():
        response = ApiClient(Client(), key).post(
            "/calls", {"to": "+14155550123"}, headers={"Idempotency-Key": "order-1"}
        )
        return response.status_code, response.json()

    answers = race(*[post] * 6)
    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1
    assert CallRequest.objects.count() == 1


def test_racing_posts_of_one_key_with_other_bodies_queue_one_call(business):
    key = api_for(Client(), business).key

    def post(number):
        return lambda: (
            ApiClient(Client(), key)
            .post("/calls", {"to": number}, headers={"Idempotency-Key": "order-1"})
            .status_code
        )

    answers = race(*[post(f"+1415555012{k}") for k in range(6)])
    assert sorted(answers) == [201] + [422] * 5
    assert CallRequest.objects.count() == 1


def test_racing_requests_never_pass_the_rate(business, settings, monkeypatch):
    settings.API_RATE_PER_MINUTE = 5
    monkeypatch.setattr("api.keys.time.time", lambda: 1_800_000_000.0)
    key = api_for(Client(), business).key
    ApiKey.objects.update(throttle_window=0)  # every racer finds the window past

    def get():
        return ApiClient(Client(), key).get("/calls").status_code

    answers = race(*[get] * 10)
    assert sorted(answers) == [200] * 5 + [429] * 5
    assert ApiKey.objects.get().throttle_count == 5
