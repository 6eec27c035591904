"""The status tables of calls, requests and campaigns, pinned without a database."""

from collections import Counter

from calls.models import Business, CallLog, CallRequest, Campaign
from calls.services.operator_actions import ActionResult
from calls.services.status import retry_delay

R = CallRequest.Status
C = Campaign.Status


def test_a_request_moves_only_as_its_table_says():
    assert CallRequest.TRANSITIONS == {
        R.QUEUED: {R.ACTIVE, R.CANCELED, R.FAILED},
        R.ACTIVE: {R.QUEUED, R.DONE, R.FAILED, R.CANCELED},
        R.DONE: {R.QUEUED},
        R.FAILED: {R.QUEUED},
        R.CANCELED: {R.QUEUED},
    }
    assert set(CallRequest.TRANSITIONS) == set(R)
    # A closed request reopens only to the queue (an operator's retry), never straight to a call.
    for closed in CallRequest.CLOSED_STATUSES:
        assert CallRequest.TRANSITIONS[closed] == {R.QUEUED}


def test_a_campaign_moves_only_as_its_table_says():
    assert Campaign.TRANSITIONS == {
        C.RUNNING: {C.PAUSED, C.STOPPING, C.DONE, C.CANCELED},
        C.PAUSED: {C.RUNNING, C.STOPPING, C.CANCELED},
        C.STOPPING: {C.RUNNING, C.PAUSED, C.DONE, C.CANCELED},
        C.DONE: {C.RUNNING},
        C.CANCELED: set(),
    }
    assert set(Campaign.TRANSITIONS) == set(C)
    assert Campaign.DIALING_STATUSES == (C.RUNNING,)
    assert Campaign(status=C.PAUSED).allows_retries
    assert not Campaign(status=C.STOPPING).allows_retries


def test_a_call_only_moves_forward_and_a_terminal_status_is_final():
    order = ["pending", "queued", "initiated", "ringing", "in-progress"]
    for n, status in enumerate(order):
        assert CallLog.statuses_before(status) == order[:n]
    for terminal in ("completed", "busy", "no-answer", "canceled", "failed"):
        assert CallLog.statuses_before(terminal) == order
        assert CallLog(status=terminal).is_terminal
    assert set(CallLog.LIVE_STATUSES) == set(order)


def test_an_action_result_says_what_changed_and_why_the_rest_did_not():
    assert ActionResult(changed=2).summary("call", "hung up") == "2 calls hung up."
    assert (
        ActionResult(changed=1, unchanged=Counter({"had already ended": 2})).summary(
            "call", "hung up"
        )
        == "1 call hung up; 2 had already ended."
    )
    assert (
        ActionResult(unchanged=Counter({"had no pause to clear": 3})).summary("business", "resumed")
        == "0 businesses resumed: all selected businesses had no pause to clear."
    )
    assert (
        ActionResult.refused("had been canceled").summary("campaign", "set to running")
        == "0 campaigns set to running: the selected campaign had been canceled."
    )


def test_the_retry_delay_doubles_per_attempt_within_its_jitter():
    business = Business(retry_delay_seconds=100)
    for attempts, base in [(1, 100), (2, 200), (3, 400)]:
        delay = retry_delay(business, attempts).total_seconds()
        assert base * 0.8 <= delay <= base * 1.2


def test_index_and_constraint_conditions_spell_the_live_statuses():
    from calls.models import LIVE_CONDITION

    assert LIVE_CONDITION == list(CallLog.LIVE_STATUSES)
    assert LIVE_CONDITION[0] == CallLog.Status.PENDING
