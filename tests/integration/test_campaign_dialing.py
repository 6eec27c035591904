"""A campaign's page says what its dialing did and what it held back, and why: attempts, calls
placed, reached a person or a machine, ended (calls.counts), held for the calling window, blocked
by do-not-call, opted out."""

from django.urls import reverse
from django.utils import timezone

from calls.counts import CallCounts
from calls.dashboard import campaign_results
from calls.models import CallLog, CallRequest, Campaign, DoNotCall
from calls.services.do_not_call import DO_NOT_CALL_PREFIX
from tests.recipes import make_call, make_request, sid

Status = CallLog.Status


def campaign_with_every_kind(business):
    campaign = Campaign.objects.create(business=business, name="Spring")
    now = timezone.now()

    def request(n, **fields):
        return make_request(business, number=f"+1415555{n:04d}", campaign=campaign, **fields)

    request(1, window_holds=2)  # held twice, still waiting
    request(2, window_holds=1, status=CallRequest.Status.DONE)  # held, then reached
    blocked = f"{DO_NOT_CALL_PREFIX}: asked us"
    request(3, status=CallRequest.Status.CANCELED, last_error=blocked)
    request(4, status=CallRequest.Status.CANCELED, last_error="The campaign was stopped.")

    def call(n, **fields):
        return make_call(business, number=f"+1415555{n:04d}", request=request(n), **fields)

    person = call(5, call_sid=sid(business.pk * 100 + 5), status=Status.COMPLETED, answered_at=now)
    call(
        6,
        call_sid=sid(business.pk * 100 + 6),
        status=Status.COMPLETED,
        answered_at=now,
        answered_by="human",
    )
    call(
        7,
        call_sid=sid(business.pk * 100 + 7),
        status=Status.COMPLETED,
        answered_by="machine_end_beep",
    )
    call(8, call_sid=sid(business.pk * 100 + 8), status=Status.BUSY)
    call(9)  # claimed, not yet sent: not placed
    DoNotCall.objects.create(
        business=business,
        phone_number=person.to_number,
        reason=f"opted out by keypress during call {person.call_sid}",
        source_call=person,
    )
    return campaign


def test_each_count_comes_from_its_own_rows(business, rival):
    campaign = campaign_with_every_kind(business)
    campaign_with_every_kind(rival)  # another business's campaign counts nothing here
    DoNotCall.objects.create(business=business, phone_number="+14155550999", reason="by hand")

    results = campaign_results(campaign)

    # Four calls Twilio took, and one claimed and not yet sent (an attempt, not placed).
    assert results.counts == CallCounts(
        attempts=5, placed=4, reached_person=2, reached_machine=1, ended=4, answered=3
    )
    assert results.held_for_window == 2
    assert results.blocked_by_do_not_call == 1
    assert results.opted_out == 1
    assert results.live == 1


def test_a_campaign_that_dialed_nothing_counts_zero(business):
    campaign = Campaign.objects.create(business=business, name="Empty")
    results = campaign_results(campaign)
    assert results.counts == results.recent == CallCounts()
    assert (results.total, results.live, results.held, results.opted_out) == (0, 0, 0, 0)
    assert results.finishes_in is None


def test_the_campaign_page_shows_the_counts(admin_client, business):
    campaign = campaign_with_every_kind(business)
    page = admin_client.get(reverse("admin:calls_campaign_change", args=[campaign.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "What was held, and why" in html
    overall = html.split('class="counts-overall"')[1].split("</tr>")[0]
    for css, figure in [
        ("count-attempts", 5),
        ("count-placed", 4),
        ("count-reached_person", 2),
        ("count-reached_machine", 1),
        ("count-ended", 4),
    ]:
        assert f'<td class="{css}">{figure}</td>' in overall
    for css, figure in [("dialing-held", 2), ("dialing-blocked", 1), ("dialing-opted-out", 1)]:
        assert f'<td class="{css}">{figure}</td>' in html
