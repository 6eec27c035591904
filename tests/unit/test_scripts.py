"""The raw TwiML allowlist and the script renderer: no database."""

import importlib

import pytest

from calls.scripts import script_twiml, twiml_refusals

HOSTS = ["media.example.com"]


@pytest.mark.parametrize(
    "twiml",
    [
        "<Response><Say>Hello</Say></Response>",
        '<Response><Say voice="Polly.Amy" language="en-GB" loop="2">Hi</Say></Response>',
        "<Response><Say>Hi <break time='1s'/> <emphasis>there</emphasis></Say></Response>",
        "<Response><Play>https://media.example.com/a.mp3</Play><Hangup/></Response>",
        '<Response><Pause length="2"/><Play digits="1w2"/></Response>',
        "<Response><Say>Visit https://example.com today</Say></Response>",
    ],
)
def test_speaking_playing_pausing_and_hanging_up_are_allowed(twiml):
    assert twiml_refusals(twiml, recording_hosts=HOSTS) == []


@pytest.mark.parametrize(
    ("twiml", "refusal"),
    [
        ("<Response><Dial>+19005550100</Dial></Response>", "<Dial> is not allowed"),
        ("<Response><Redirect>https://evil.example/t</Redirect></Response>", "<Redirect>"),
        ("<Response><Record/></Response>", "<Record> is not allowed"),
        ("<Response><Refer><Sip>sip:x@evil</Sip></Refer></Response>", "<Refer> is not allowed"),
        ("<Response><Connect><Stream url='wss://e'/></Connect></Response>", "<Connect>"),
        ("<Response><Gather action='https://evil.example'/></Response>", "<Gather>"),
        ("<Response><Enqueue>q</Enqueue></Response>", "<Enqueue> is not allowed"),
        ("<Response><Start><Stream url='wss://e'/></Start></Response>", "<Start>"),
        ("<Response><Say><Dial>+1900</Dial></Say></Response>", "<Dial> is not speech markup"),
        ("<Response><Play>https://evil.example/a.mp3</Play></Response>", "not an https URL"),
        ("<Response><Play>http://media.example.com/a.mp3</Play></Response>", "not an https"),
        ("<Response><Say action='https://evil'>x</Say></Response>", "may not have action"),
        ("<Response><Pause><Dial/></Pause></Response>", "may not contain"),
        ("<Dial>+1900</Dial>", "bare <Response>"),
        ("<Response><Hangup>https://evil.example/x</Hangup></Response>", "may not hold text"),
        ("<Response>https://evil.example/<Hangup/></Response>", "verbs only"),
        ("<Response><Hangup/>https://evil.example/</Response>", "verbs only"),
        ("<Response><Play digits='1'>https://evil.example/a</Play></Response>", "not both"),
        ("<Response><Dial>", "Not valid XML"),
    ],
)
def test_verbs_that_reach_out_are_refused(twiml, refusal):
    refusals = twiml_refusals(twiml, recording_hosts=HOSTS)
    assert any(refusal in r for r in refusals), refusals


def test_a_business_may_be_allowed_a_guarded_verb():
    twiml = "<Response><Dial>+14155550100</Dial></Response>"
    assert twiml_refusals(twiml, extra_verbs=["Dial"]) == []
    assert twiml_refusals(twiml, extra_verbs=["Record"]) != []


def test_a_script_is_rendered_by_twilios_builder_and_escapes_what_it_says():
    twiml = script_twiml(
        say_text="Deals <Dial>+1900</Dial> & more",
        voice="Polly.Amy",
        language="en-GB",
        recording_url="https://media.example.com/a.mp3",
    )
    assert twiml == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        "<Play>https://media.example.com/a.mp3</Play>"
        '<Say language="en-GB" voice="Polly.Amy">Deals &lt;Dial&gt;+1900&lt;/Dial&gt; &amp; more'
        "</Say></Response>"
    )
    assert twiml_refusals(twiml, recording_hosts=HOSTS) == []


migration = importlib.import_module("calls.migrations.0007_campaign_twiml_to_script")


@pytest.mark.parametrize(
    ("twiml", "script"),
    [
        (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello.</Say></Response>',
            {"say_text": "Hello.", "voice": "", "language": "", "recording_url": ""},
        ),
        (
            '<Response><Play>https://m.example/a.mp3</Play><Say voice="man" language="en-US">'
            "Hi</Say><Hangup/></Response>",
            {
                "say_text": "Hi",
                "voice": "man",
                "language": "en-US",
                "recording_url": "https://m.example/a.mp3",
            },
        ),
        ("<Response><Dial>+1900</Dial></Response>", None),
        ("<Response><Say>a</Say><Say>b</Say></Response>", None),
        ("<Response><Say voice='Polly.Unknown'>a</Say></Response>", None),
        ("<Response><Play>http://m.example/a.mp3</Play></Response>", None),
        ("not xml", None),
    ],
)
def test_the_migration_turns_twiml_into_a_script_only_when_it_says_the_same(twiml, script):
    assert migration.as_script(twiml) == script
