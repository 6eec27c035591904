import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from model_bakery import baker

from calls.models import Business, CallRequest, Campaign
from calls.services.enqueue import enqueue_outbound_call, enqueue_outbound_calls


def test_enqueue_normalises_the_number_and_queues_a_dispatch(
    business, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = enqueue_outbound_call(business=business, to_number="(415) 555-0123")
    assert (request.to_number, request.status, request.attempts) == ("+14155550123", "queued", 0)
    assert request.max_attempts == business.max_attempts
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "empty"),
        ("hello", "is not a phone number"),
        ("+1 415 555", "not a valid phone number"),
        ("+999 123", "is not a phone number"),
    ],
)
def test_a_malformed_number_is_refused_and_nothing_is_stored(business, queue, number, message):
    (result,) = enqueue_outbound_calls(business=business, numbers=[number])
    assert result.request is None
    assert message in result.refused
    assert not CallRequest.objects.exists()
    assert queue() == []


def test_a_number_already_open_in_the_campaign_is_refused(business):
    campaign = baker.make(Campaign, business=business, name="spring")
    results = enqueue_outbound_calls(
        business=business, numbers=["+14155550123", "4155550123"], campaign=campaign
    )
    assert results[0].request and not results[1].request
    assert "already queued or live in campaign 'spring'" in results[1].refused
    # Another campaign may call the same number.
    other = baker.make(Campaign, business=business, name="summer")
    (result,) = enqueue_outbound_calls(business=business, numbers=["+14155550123"], campaign=other)
    assert result.request


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"is_active": False}, "is inactive"), ({"paused_reason": "20003"}, "is paused: 20003")],
)
def test_an_inactive_or_paused_business_refuses_new_calls(business, change, reason):
    for field, value in change.items():
        setattr(business, field, value)
    business.save()
    (result,) = enqueue_outbound_calls(business=business, numbers=["+14155550123"])
    assert reason in result.refused
    assert not CallRequest.objects.exists()


def test_the_command_prints_a_line_per_number_and_queues_the_valid_ones(business, tmp_path, capsys):
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("phone,name\n+14155550123,Ann\nnot-a-number,Bob\n\n4155550124,Cy\n")
    call_command(
        "enqueue_calls", "--business", str(business.pk), "--campaign", "spring",
        "--file", str(numbers), "+14155550125", "+14155550123",
    )  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "+14155550125: queued as +14155550125"
    assert lines[1] == "+14155550123: queued as +14155550123"
    assert lines[2].startswith("+14155550123: refused: +14155550123 is already queued or live")
    assert lines[3].startswith("not-a-number: refused: 'not-a-number' is not a phone number")
    assert lines[4] == "4155550124: queued as +14155550124"
    assert lines[5] == "3 queued, 2 refused."
    campaign = Campaign.objects.get(business=business, name="spring")
    assert set(campaign.requests.values_list("to_number", flat=True)) == {
        "+14155550123",
        "+14155550124",
        "+14155550125",
    }


def test_the_command_keeps_no_new_campaign_when_every_number_is_refused(business, capsys):
    existing = Campaign.objects.create(business=business, name="old")
    call_command("enqueue_calls", "--business", str(business.pk), "--campaign", "new", "nope")
    call_command("enqueue_calls", "--business", str(business.pk), "--campaign", "old", "nope")
    out = capsys.readouterr().out
    assert "Campaign 'new' not created: no number was queued." in out
    # A campaign that was there before stays: only an empty one made by this run goes.
    assert list(Campaign.objects.all()) == [existing]


def test_the_command_refuses_an_unknown_business(db):
    with pytest.raises(CommandError, match="No such business"):
        call_command("enqueue_calls", "--business", "999", "+14155550123")


def test_a_bulk_enqueue_queues_one_dispatch_for_the_lot(
    business, queue, django_capture_on_commit_callbacks
):
    numbers = [f"+1415555{n:04d}" for n in range(3000, 3040)]
    with django_capture_on_commit_callbacks(execute=True):
        results = enqueue_outbound_calls(business=business, numbers=[*numbers, "bad"])
    assert sum(1 for r in results if r.request) == 40
    assert queue() == [("calls.tasks.dispatch", (business.pk,))]


@pytest.mark.parametrize(
    ("change", "code"),
    [({"is_active": False}, "business-inactive"), ({"paused_reason": "21210"}, "business-paused")],
)
def test_a_refusal_says_why_in_a_code_an_interface_can_map(business, change, code):
    from calls.services import EnqueueRefused, enqueue_outbound_call

    Business.objects.filter(pk=business.pk).update(**change)
    with pytest.raises(EnqueueRefused) as refused:
        enqueue_outbound_call(business=business, to_number="+14155550123")
    assert refused.value.code == code
    assert not CallRequest.objects.exists()
