"""The generated model of the whole queue (tests/queue_model.py): 300 histories in every run, on
SQLite and PostgreSQL; 10,000 on PostgreSQL in the long run (`make test-long`), and there too
the check that a history replayed with its own choices sees the same queue (the model's own
determinism, which Hypothesis relies on; it reaches into Hypothesis's internals, pinned in
requirements-dev.txt)."""

import contextlib

import pytest
from hypothesis import HealthCheck
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings
from hypothesis.control import BuildContext, current_build_context
from hypothesis.errors import StopTest
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.internal.entropy import deterministic_PRNG
from hypothesis.stateful import get_state_machine_test, invariant, run_state_machine_as_test
from hypothesis.strategies._internal.core import DataObject

from calls.models import CallLog, CallRequest
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


class ReplayedModel(QueueModel):
    """The model, keeping each history's choices and, after every step, what a replay of those
    choices must see again (`queue_seen`)."""

    histories: list[tuple[tuple, list]] = []

    def __init__(self):
        super().__init__()
        self.seen = []

    def teardown(self):
        self.histories.append((tuple(current_build_context().data.choices), self.seen))
        super().teardown()

    @invariant()
    def queue_seen(self):
        if hasattr(self, "businesses"):
            self.seen.append(queue_seen(self))


def queue_seen(model: QueueModel) -> tuple:
    """The queue as a history sees it, with pks made relative to its first row (PostgreSQL's
    sequences are not rolled back with a history, so a replay's pks are others)."""
    requests = list(
        CallRequest.objects.order_by("pk").values_list(
            "pk", "status", "attempts", "to_number", "next_attempt_at", "campaign_id"
        )
    )
    calls = list(
        CallLog.objects.order_by("pk").values_list("pk", "status", "call_sid", "request_id")
    )
    first_request = requests[0][0] if requests else 0
    first_call = calls[0][0] if calls else 0
    first_campaign = model.campaigns[0].pk
    return (
        [(task.__name__, key if isinstance(key, str) else None) for task, key in model.tasks],
        [
            (
                pk - first_request,
                status,
                attempts,
                number,
                due,
                campaign and campaign - first_campaign,
            )
            for pk, status, attempts, number, due, campaign in requests
        ],
        [
            (pk - first_call, status, sid, request and request - first_request)
            for pk, status, sid, request in calls
        ],
        model.clock.now,
        [(c.sid, c.status, list(c.outbox)) for c in model.twilio.calls.values()],
    )


def replay(choices: tuple) -> list:
    """Runs the history of `choices` again, as Hypothesis does when it shrinks or explores
    around one; returns what it saw."""
    ReplayedModel.histories = []
    test = get_state_machine_test(
        ReplayedModel,
        settings=hypothesis_settings(deadline=None, suppress_health_check=list(HealthCheck)),
    )
    data = ConjectureData.for_choices(choices)
    with deterministic_PRNG(), BuildContext(data, is_final=False, wrapped_test=None):
        with contextlib.suppress(StopTest):  # it asks for one choice past the history's last
            test.hypothesis.inner_test(data=DataObject(data))
    [(_, seen)] = ReplayedModel.histories
    return seen


@pytest.mark.long
@pytest.mark.parametrize("seed", range(1, 11))
def test_a_history_replayed_with_its_choices_sees_the_same_queue(harness, seed):
    """Hypothesis replays a history's choices when it shrinks one and when it explores around
    one. If the replay saw another queue (rows in another order, the machine's clock, something
    an earlier history left), Hypothesis says only FlakyStrategyDefinition, with no failure to
    look at: here 30 histories are each replayed after all of them ran, and every step must see
    what it saw the first time, or the first step that differs is shown."""
    ReplayedModel.histories = []
    # The seed goes on the test Hypothesis made: on a function that merely calls it, it is ignored.
    first_runs = get_state_machine_test(
        ReplayedModel,
        settings=hypothesis_settings(
            max_examples=30,
            stateful_step_count=50,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    hypothesis_seed(seed)(first_runs)()
    histories = ReplayedModel.histories
    assert len(histories) >= 30
    for n, (choices, first) in enumerate(histories):
        again = replay(choices)
        for step, (before, after) in enumerate(zip(first, again, strict=False)):
            assert before == after, f"history {n}, step {step}:\n{before}\n{after}"
        assert len(again) == len(first), f"history {n}: {len(first)} steps, then {len(again)}"
