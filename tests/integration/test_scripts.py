"""Campaign scripts: who may write raw TwiML, what the answer view serves, and the migration of
the TwiML campaigns had before scripts."""

from xml.etree import ElementTree

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from calls import tasks
from calls.models import CallLog, Campaign
from calls.services import enqueue_outbound_call
from tests.recipes import NUMBER

DIAL = "<Response><Dial>+19005550100</Dial></Response>"


def campaign_form(business, **changes):
    data = {
        "business": business.pk,
        "name": "spring",
        "purpose": "informational",  # telemarketing would need consents (test_consent.py)
        "say_text": "Spring sale!",
        "voice": "",
        "language": "",
        "recording_url": "",
        "raw_twiml": "",
        # A campaign is created with its numbers (tests/integration/test_campaign_numbers.py).
        "numbers": NUMBER,
    }
    return {**data, **changes}


def added(response) -> bool:
    """The add page answered with its numbers' outcome: the campaign was created."""
    return response.status_code == 200 and "1 queued</strong>" in response.content.decode()


@pytest.fixture
def manager(member_client, business):
    return member_client((business, "manager"))


def test_a_manager_writes_a_script_but_never_raw_twiml(manager, business):
    response = manager.post("/admin/calls/campaign/add/", campaign_form(business, raw_twiml=DIAL))
    assert added(response)
    campaign = Campaign.objects.get()
    assert (campaign.say_text, campaign.raw_twiml) == ("Spring sale!", "")
    page = manager.get(f"/admin/calls/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="raw_twiml"' not in page
    assert 'name="say_text"' in page


@pytest.mark.parametrize(
    "twiml", [DIAL, "<Response><Redirect>https://evil.example/</Redirect></Response>"]
)
def test_a_superuser_is_refused_raw_twiml_the_business_is_not_allowed(
    admin_client, business, twiml
):
    response = admin_client.post(
        "/admin/calls/campaign/add/", campaign_form(business, raw_twiml=twiml)
    )
    assert response.status_code == 200
    assert "is not allowed for this business" in response.content.decode()
    assert not Campaign.objects.exists()


def test_a_superuser_may_use_a_verb_the_business_is_allowed(admin_client, business):
    business.extra_twiml_verbs = ["Dial"]
    business.save()
    response = admin_client.post(
        "/admin/calls/campaign/add/", campaign_form(business, raw_twiml=DIAL)
    )
    assert added(response)
    assert Campaign.objects.get().raw_twiml == DIAL


def test_a_recording_must_come_from_an_allowed_host(manager, business):
    form = campaign_form(business, recording_url="https://evil.example/a.mp3")
    response = manager.post("/admin/calls/campaign/add/", form)
    assert "allowed hosts" in response.content.decode()
    business.allowed_recording_hosts = "media.example.com"
    business.save()
    form["recording_url"] = "https://media.example.com/a.mp3"
    assert added(manager.post("/admin/calls/campaign/add/", form))


def answer(business, campaign, twilio_post):
    enqueue_outbound_call(business=business, to_number=NUMBER, campaign=campaign)
    tasks.dispatch(business.pk)
    call = CallLog.objects.get()
    return twilio_post(f"/twilio/calls/{call.public_id}/answer", {"CallSid": call.call_sid})


@pytest.mark.parametrize(
    "raw",
    [
        DIAL,
        "<Response><Redirect>https://evil.example/</Redirect></Response>",
        "<Response><Say>hi</Say><Record/></Response>",
        "<Response><Play>https://evil.example/a.mp3</Play></Response>",
        "<Response><Dial>",
    ],
)
def test_the_answer_view_never_serves_refused_twiml_written_without_the_admin(
    business, fake_twilio, twilio_post, raw
):
    campaign = Campaign.objects.create(
        business=business, name="spring", say_text="Spring sale!", raw_twiml=raw
    )
    response = answer(business, campaign, twilio_post)
    assert response.status_code == 200
    body = response.content.decode()
    for verb in ("Dial", "Redirect", "Record", "evil.example"):
        assert verb not in body
    assert "<Say>Spring sale!</Say>" in body


def test_the_answer_view_serves_allowed_raw_twiml_as_checked(business, fake_twilio, twilio_post):
    raw = '<Response><Say voice="man">Hi &amp; bye</Say><Hangup/></Response>'
    campaign = Campaign.objects.create(business=business, name="spring", raw_twiml=raw)
    response = answer(business, campaign, twilio_post)
    served = response.content.decode().split("?>", 1)[1]
    assert ElementTree.canonicalize(served) == ElementTree.canonicalize(raw)


def test_the_answer_view_drops_a_recording_from_a_host_no_longer_allowed(
    business, fake_twilio, twilio_post
):
    campaign = Campaign.objects.create(
        business=business, name="spring", say_text="Hi", recording_url="https://old.example/a.mp3"
    )
    body = answer(business, campaign, twilio_post).content.decode()
    assert "old.example" not in body
    assert "<Say>Hi</Say>" in body


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_existing_twiml_into_scripts():
    executor = MigrationExecutor(connection)
    before = [("calls", "0006_tenants_scripts_and_retention")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    old_business = apps.get_model("calls", "Business")
    old_campaign = apps.get_model("calls", "Campaign")
    business = old_business.objects.create(name="Old", phone_number="+14155550300")
    old_campaign.objects.create(
        business=business,
        name="plain",
        twiml="<Response><Play>https://m.example/a.mp3</Play><Say voice='man'>Hi</Say></Response>",
    )
    old_campaign.objects.create(business=business, name="dial", twiml=DIAL)
    call_command("migrate", verbosity=0)
    plain = Campaign.objects.get(name="plain")
    assert (plain.say_text, plain.voice, plain.recording_url, plain.raw_twiml) == (
        "Hi",
        "man",
        "https://m.example/a.mp3",
        "",
    )
    assert plain.business.allowed_recording_hosts == "m.example"
    dial = Campaign.objects.get(name="dial")
    assert dial.raw_twiml == DIAL


def test_a_manager_still_edits_a_campaign_whose_stored_twiml_now_fails(manager, business):
    campaign = Campaign.objects.create(
        business=business, name="spring", say_text="Old", raw_twiml=DIAL
    )
    url = f"/admin/calls/campaign/{campaign.pk}/change/"
    form = campaign_form(business, say_text="New")
    del form["business"], form["raw_twiml"]
    assert manager.post(url, form).status_code == 302
    campaign.refresh_from_db()
    assert (campaign.say_text, campaign.raw_twiml) == ("New", DIAL)
