"""The generated model of the whole queue (tests/queue_model.py): 300 histories in every run, on
SQLite and PostgreSQL; 10,000 on PostgreSQL in the long run (`make test-long`)."""

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test

from tests.queue_model import ModelHarness, QueueModel


@pytest.fixture
def harness(db, monkeypatch, settings):
    settings.API_RATE_PER_MINUTE = 1_000_000
    settings.TWILIO_MAX_CONCURRENT_CALLS = None  # each history sets its own (restored after)
    harness = ModelHarness(monkeypatch)
    QueueModel.harness = harness
    yield harness
    harness.close()
    QueueModel.harness = None


def run(histories: int) -> None:
    run_state_machine_as_test(
        QueueModel,
        settings=hypothesis_settings(
            max_examples=histories,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.parametrize("part", [1, 2, 3])
def test_the_queue_keeps_its_invariants_through_generated_histories(harness, part):
    """300 histories in all, in three parts so the suite's workers share them."""
    run(100)


@pytest.mark.long
@pytest.mark.postgres
@pytest.mark.parametrize("part", range(1, 21))
def test_ten_thousand_histories(harness, part):
    """10,000 histories in all, in twenty parts so `make test-long`'s workers share them and a
    run that is stopped early still says how many passed."""
    run(500)
