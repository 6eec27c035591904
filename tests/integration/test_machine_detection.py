"""Answering-machine detection: the create asks for it only for campaigns that do, Twilio's signed
verdict records who answered and queues the voicemail drop, the task sends it, and a machine
reached is retried by the campaign's rule."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from calls import tasks
from calls.models import CallLog, CallRequest, Campaign
from calls.outcomes import outcome_reason
from calls.services.enqueue import enqueue_outbound_call
from calls.twilio_client import ErrorKind, TwilioError
from tests.recipes import ACCOUNT_SID, callback, make_call, sid

NUMBER = "+14155551234"
MESSAGE = "Hello, this is Acme Plumbing. Please call us back on 415 555 0100."
MACHINES = ["machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"]
PEOPLE = ["human", "unknown"]


@pytest.fixture
def campaign(business):
    return Campaign.objects.create(
        business=business,
        name="spring",
        say_text="Spring sale!",
        voice="Polly.Joanna",
        language="en-US",
        machine_detection=True,
        voicemail_text=MESSAGE,
    )


def place(business, campaign, number=NUMBER, **request_fields):
    request = enqueue_outbound_call(business=business, to_number=number, campaign=campaign)
    if request_fields:
        CallRequest.objects.filter(pk=request.pk).update(**request_fields)
    tasks.dispatch(business.pk)
    return request, CallLog.objects.get(request=request, status="queued")


@pytest.fixture
def answered(business, campaign, fake_twilio, twilio_post):
    """An answered call of the campaign (its script playing), before Twilio's verdict."""
    request, call = place(business, campaign)
    for n, status in enumerate(["initiated", "ringing", "in-progress"]):
        twilio_post(url(call, "status"), callback(call.call_sid, status, n))
    call.refresh_from_db()
    assert call.status == "in-progress"
    return request, call


def url(call, what="amd"):
    return f"/twilio/calls/{call.public_id}/{what}"


def verdict(call, answered_by, **extra):
    return {
        "CallSid": call.call_sid,
        "AccountSid": ACCOUNT_SID,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": "4120",
        **extra,
    }


def complete(twilio_post, call, **extra):
    params = callback(call.call_sid, "completed", 4, CallDuration="31", **extra)
    assert twilio_post(url(call, "status"), params).status_code == 204


def test_a_campaign_that_asks_sends_async_detection_with_its_verdict_url(
    business, campaign, fake_twilio, settings
):
    plain = Campaign.objects.create(business=business, name="plain")
    _, detected = place(business, campaign)
    _, undetected = place(business, plain, number="+14155551235")

    base = settings.PUBLIC_BASE_URL
    first, second = fake_twilio.created
    assert first["machine_detection_callback"] == f"{base}/twilio/calls/{detected.public_id}/amd"
    assert first["url"] == f"{base}/twilio/calls/{detected.public_id}/answer"
    assert "machine_detection_callback" not in second
    assert second["url"] == f"{base}/twilio/calls/{undetected.public_id}/answer"


def test_a_request_without_a_campaign_never_asks_for_detection(business, fake_twilio):
    enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)

    (created,) = fake_twilio.created
    assert "machine_detection_callback" not in created


@pytest.mark.parametrize("answered_by", MACHINES)
def test_a_signed_machine_verdict_records_it_and_queues_the_voicemail_not_sending_it(
    answered, answered_by, twilio_post, queue, fake_twilio, django_capture_on_commit_callbacks
):
    _, call = answered
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(url(call), verdict(call, answered_by))

    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.answered_by, call.status, call.voicemail_left_at) == (
        answered_by,
        "in-progress",
        None,
    )
    assert queue() == [("calls.tasks.leave_voicemail", (call.pk,))]
    assert fake_twilio.updated == [], "Twilio is never called on the webhook's path"


@pytest.mark.parametrize("answered_by", PEOPLE)
def test_a_person_changes_nothing_but_the_record(
    answered, answered_by, twilio_post, queue, fake_twilio, django_capture_on_commit_callbacks
):
    request, call = answered
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(url(call), verdict(call, answered_by))

    assert response.status_code == 204
    call.refresh_from_db()
    assert (call.answered_by, call.status) == (answered_by, "in-progress")
    assert queue() == []
    assert fake_twilio.updated == []
    complete(twilio_post, call, AnsweredBy=answered_by)
    request.refresh_from_db()
    assert (request.status, request.last_error) == ("done", "")


def test_the_task_plays_the_message_in_the_scripts_voice_then_hangs_up_once(
    answered, twilio_post, fake_twilio
):
    _, call = answered
    twilio_post(url(call), verdict(call, "machine_end_beep"))

    tasks.leave_voicemail(call.pk)
    tasks.leave_voicemail(call.pk)  # a task run twice leaves one message

    ((update_sid, twiml),) = fake_twilio.updated
    assert update_sid == call.call_sid
    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Say language="en-US" voice="Polly.Joanna">{MESSAGE}</Say><Hangup /></Response>'
    )
    call.refresh_from_db()
    assert call.voicemail_left_at is not None
    assert fake_twilio.hung_up == []


def test_without_a_message_the_task_only_hangs_up(answered, campaign, twilio_post, fake_twilio):
    _, call = answered
    Campaign.objects.filter(pk=campaign.pk).update(voicemail_text="")
    twilio_post(url(call), verdict(call, "machine_end_silence"))

    tasks.leave_voicemail(call.pk)

    assert fake_twilio.updated == [
        (call.call_sid, '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>')
    ]
    call.refresh_from_db()
    assert call.voicemail_left_at is None


def test_the_task_leaves_nothing_on_a_call_that_ended_or_is_being_hung_up(
    answered, twilio_post, fake_twilio
):
    _, call = answered
    twilio_post(url(call), verdict(call, "machine_end_beep"))
    CallLog.objects.filter(pk=call.pk).update(hang_up_requested_at=timezone.now())
    tasks.leave_voicemail(call.pk)
    CallLog.objects.filter(pk=call.pk).update(hang_up_requested_at=None, status="completed")
    tasks.leave_voicemail(call.pk)
    tasks.leave_voicemail(call.pk + 1000)  # gone (erased)

    assert fake_twilio.updated == []


def test_twilio_refusing_the_update_is_logged_and_leaves_no_mark(
    answered, twilio_post, fake_twilio, caplog
):
    _, call = answered
    twilio_post(url(call), verdict(call, "machine_end_beep"))
    fake_twilio.update_error = TwilioError(
        kind=ErrorKind.REFUSED_BUSINESS, code="21220", message="Call is not in-progress."
    )

    tasks.leave_voicemail(call.pk)

    assert len(fake_twilio.updated) == 1
    call.refresh_from_db()
    assert call.voicemail_left_at is None
    assert "Voicemail for call" in caplog.text


def test_a_verdict_after_the_call_ended_is_kept_in_its_trail_and_changes_nothing_else(
    answered, twilio_post, queue, django_capture_on_commit_callbacks
):
    """The request was settled for a person when the call ended; the call keeps saying what it
    was settled on, so the call, its request and every count agree."""
    request, call = answered
    complete(twilio_post, call)  # outside the capture: what the end queues is not counted
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(url(call), verdict(call, "machine_end_beep"))

    assert response.status_code == 204
    call.refresh_from_db()
    request.refresh_from_db()
    assert (call.answered_by, call.status, request.status) == ("", "completed", "done")
    event = call.events.get(source="amd")
    assert (event.status, event.applied) == ("machine_end_beep", False)
    assert event.params["AnsweredBy"] == "machine_end_beep"
    assert queue() == []


def test_a_verdict_twice_leaves_the_voicemail_once(
    answered, twilio_post, fake_twilio, django_capture_on_commit_callbacks
):
    _, call = answered
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(url(call), verdict(call, "machine_end_beep"))
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(url(call), verdict(call, "machine_end_silence"))
    tasks.leave_voicemail(call.pk)  # the ORM broker delivered the task a second time

    assert len(fake_twilio.updated) == 1
    call.refresh_from_db()
    assert call.machine_update_at is not None
    assert list(call.events.filter(source="amd").values_list("status", "applied")) == [
        ("machine_end_beep", True),
        ("machine_end_silence", True),
    ]


def test_a_verdict_on_an_inbound_call_is_recorded_and_never_redirects_the_caller(
    business, twilio_post, queue, django_capture_on_commit_callbacks
):
    call = make_call(business, direction="inbound", call_sid=sid("a"), status="in-progress")
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(url(call), verdict(call, "machine_end_beep"))

    assert response.status_code == 204
    call.refresh_from_db()
    assert call.answered_by == "machine_end_beep"
    assert queue() == []


def test_a_verdict_carrying_another_calls_sid_is_ignored(
    answered, twilio_post, queue, django_capture_on_commit_callbacks
):
    _, call = answered
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(url(call), verdict(call, "machine_start", CallSid=sid("f")))

    assert response.status_code == 204
    call.refresh_from_db()
    assert call.answered_by == ""
    assert queue() == []


def test_a_forged_unknown_or_malformed_verdict_is_refused_and_changes_nothing(
    answered, twilio_post, queue, fake_twilio, django_capture_on_commit_callbacks
):
    _, call = answered
    with django_capture_on_commit_callbacks(execute=True):
        forged = twilio_post(url(call), verdict(call, "machine_start"), signature="forged")
        unknown = twilio_post(
            "/twilio/calls/00000000-0000-4000-8000-000000000000/amd",
            verdict(call, "machine_start"),
        )
        not_twilios = twilio_post(url(call), verdict(call, "robot"))
        no_sid = twilio_post(url(call), {"AnsweredBy": "machine_start"})
        bad_duration = twilio_post(
            url(call), verdict(call, "machine_start", MachineDetectionDuration="１２")
        )

    assert forged.status_code == 403
    assert unknown.status_code == 404
    assert (not_twilios.status_code, no_sid.status_code, bad_duration.status_code) == (
        400,
        400,
        400,
    )
    assert b"AnsweredBy" in not_twilios.content
    call.refresh_from_db()
    assert call.answered_by == ""
    assert queue() == []
    assert fake_twilio.updated == []


def test_a_machine_reached_is_tried_again_a_day_later_and_the_attempt_counts(
    business, answered, twilio_post, fake_twilio
):
    request, call = answered
    twilio_post(url(call), verdict(call, "machine_end_beep"))
    tasks.leave_voicemail(call.pk)
    before = timezone.now()
    complete(twilio_post, call, AnsweredBy="machine_end_beep")

    request.refresh_from_db()
    call.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 1)
    assert before + timedelta(hours=24) <= request.next_attempt_at
    assert request.next_attempt_at <= timezone.now() + timedelta(hours=24)
    assert request.last_error == (
        "Reached an answering machine (machine_end_beep); the voicemail message was left. "
        "Trying again in 24 h."
    )
    assert outcome_reason(call) == (
        "Reached an answering machine (machine_end_beep); the voicemail message was left."
    )
    tasks.dispatch(business.pk)
    assert len(fake_twilio.created) == 1, "not again within the day"


def test_the_campaigns_delay_is_used_and_a_machine_on_the_last_attempt_fails_the_request(
    business, campaign, fake_twilio, twilio_post
):
    Campaign.objects.filter(pk=campaign.pk).update(machine_retry_hours=6)
    request, call = place(business, campaign, max_attempts=2)
    twilio_post(url(call, "status"), callback(call.call_sid, "in-progress", 2))
    complete(twilio_post, call, AnsweredBy="machine_start")
    request.refresh_from_db()
    assert request.status == "queued"
    assert timedelta(hours=5.9) < request.next_attempt_at - timezone.now() <= timedelta(hours=6)

    CallRequest.objects.filter(pk=request.pk).update(next_attempt_at=timezone.now())
    tasks.dispatch(business.pk)
    second = CallLog.objects.get(request=request, status="queued")
    twilio_post(url(second, "status"), callback(second.call_sid, "in-progress", 2))
    complete(twilio_post, second, AnsweredBy="machine_end_other")

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("failed", 2)
    assert request.last_error == (
        "Reached an answering machine (machine_end_other). Gave up after 2 attempts."
    )
    assert len(fake_twilio.created) == 2


def test_a_campaign_that_settles_for_a_machine_is_done_with_the_reason(
    business, campaign, fake_twilio, twilio_post
):
    Campaign.objects.filter(pk=campaign.pk).update(machine_retry_hours=0)
    request, call = place(business, campaign)
    complete(twilio_post, call, AnsweredBy="fax")

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("done", 1)
    assert request.last_error == (
        "Reached an answering machine (fax). Not tried again: the campaign says so."
    )


def test_a_voicemail_needs_detection_and_fits_twilios_update(business):
    campaign = Campaign(business=business, name="c", voicemail_text="Call us back.")
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert "voicemail_text" in error.value.message_dict

    campaign.machine_detection = True
    campaign.voicemail_text = "x" * (Campaign.VOICEMAIL_MAX + 1)
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert "voicemail_text" in error.value.message_dict

    campaign.voicemail_text = "&" * Campaign.VOICEMAIL_MAX  # 5,000 characters escaped
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert "Too long once written as TwiML" in str(error.value.message_dict["voicemail_text"])

    campaign.voicemail_text = "Call us back."
    campaign.machine_retry_hours = None
    campaign.full_clean()
    assert campaign.machine_retry_hours == 24


def test_a_manager_turns_detection_on_with_a_message_and_a_delay_in_the_admin(
    member_client, business
):
    manager = member_client((business, "manager"))
    form = {
        "business": business.pk,
        "name": "spring",
        "purpose": "informational",
        "say_text": "Spring sale!",
        "numbers": NUMBER,
        "machine_detection": "on",
        "voicemail_text": MESSAGE,
        "machine_retry_hours": "48",
    }
    add_page = manager.get("/admin/calls/campaign/add/").content.decode()
    assert 'name="machine_detection"' in add_page
    assert "1 queued</strong>" in manager.post("/admin/calls/campaign/add/", form).content.decode()

    campaign = Campaign.objects.get()
    assert (campaign.machine_detection, campaign.voicemail_text) == (True, MESSAGE)
    assert campaign.machine_retry_hours == 48
    url = f"/admin/calls/campaign/{campaign.pk}/change/"
    page = manager.get(url).content.decode()
    for field in ("machine_detection", "voicemail_text", "machine_retry_hours"):
        assert f'name="{field}"' in page
    change = {"name": "spring", "say_text": "Spring sale!", "voicemail_text": MESSAGE}
    refused = manager.post(url, change)  # the message without detection
    assert refused.status_code == 200
    assert "only with machine detection on" in refused.content.decode()
    campaign.refresh_from_db()
    assert campaign.machine_detection is True


def test_the_call_page_shows_who_answered_and_when_the_voicemail_was_left(
    admin_client, answered, twilio_post, fake_twilio
):
    _, call = answered
    twilio_post(url(call), verdict(call, "machine_end_beep"))
    tasks.leave_voicemail(call.pk)

    page = admin_client.get(f"/admin/calls/calllog/{call.pk}/change/").content.decode()

    assert "machine_end_beep" in page
    assert "Voicemail left at" in page
    assert "Reached an answering machine (machine_end_beep)" in page


def test_a_request_without_a_campaign_that_reached_a_machine_follows_the_default_rule(
    business, fake_twilio, twilio_post
):
    request = enqueue_outbound_call(business=business, to_number=NUMBER)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get(request=request)
    complete(twilio_post, call, AnsweredBy="machine_start")

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("queued", 1)
    assert request.next_attempt_at > timezone.now() + timedelta(hours=23)
    assert request.last_error == (
        "Reached an answering machine (machine_start). Trying again in 24 h."
    )


def test_a_machine_retry_that_would_land_at_night_waits_for_the_calling_window(
    business, campaign, fake_twilio, twilio_post, window_clock
):
    Campaign.objects.filter(pk=campaign.pk).update(machine_retry_hours=1)
    window_clock.set(datetime(2026, 1, 15, 4, 30, tzinfo=UTC))  # 20:30 in Los Angeles
    request, call = place(business, campaign)
    twilio_post(url(call, "status"), callback(call.call_sid, "in-progress", 2))
    complete(twilio_post, call, AnsweredBy="machine_end_beep")

    request.refresh_from_db()
    assert request.status == "queued"
    # 21:30 is past the window's end: the morning's opening, 08:00 in Los Angeles.
    assert request.next_attempt_at == datetime(2026, 1, 15, 16, tzinfo=UTC)
    assert request.held_reason == (
        "outside the calling window (08:00–21:00, every day) until Thu 08:00 PST"
    )
    assert request.window_holds == 1


def test_the_call_timeline_shows_each_verdict_and_says_which_came_too_late(
    answered, twilio_post, django_capture_on_commit_callbacks
):
    from calls.timeline import call_timeline

    _, call = answered
    twilio_post(url(call), verdict(call, "human"))
    complete(twilio_post, call)
    twilio_post(url(call), verdict(call, "machine_end_beep"))

    call.refresh_from_db()
    verdicts = [e for e in call_timeline(call) if e.what == "Machine detection's verdict"]
    assert [e.detail for e in verdicts] == [
        "Human",
        "Machine (after the beep); it came after the call ended: kept for the record only",
    ]
    assert all(e.at is not None for e in verdicts)
