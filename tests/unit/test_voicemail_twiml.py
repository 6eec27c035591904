"""The voicemail a machine is left, for any message: TwiML Twilio can read, that only speaks the
message and hangs up (its length is checked when the campaign is saved)."""

from types import SimpleNamespace
from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from calls.models import Campaign
from calls.scripts import Language, Voice, twiml_refusals, voicemail_twiml


def campaign(text, voice="", language=""):
    return SimpleNamespace(voicemail_text=text, voice=voice, language=language)


@given(
    text=st.text(max_size=Campaign.VOICEMAIL_MAX),
    voice=st.sampled_from(Voice.values),
    language=st.sampled_from(Language.values),
)
def test_any_message_becomes_safe_twiml_that_says_it_then_hangs_up(text, voice, language):
    twiml = voicemail_twiml(campaign(text, voice, language))

    root = ElementTree.fromstring(twiml)
    assert twiml_refusals(twiml) == []
    assert [verb.tag for verb in root][-1] == "Hangup"
    assert [verb.tag for verb in root][:-1] in ([], ["Say"])


def test_no_message_or_no_campaign_only_hangs_up():
    hang_up = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'
    assert voicemail_twiml(campaign("")) == hang_up
    assert voicemail_twiml(None) == hang_up
