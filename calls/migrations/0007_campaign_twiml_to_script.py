"""Turns each campaign's TwiML into a script where the script says the same (a recording, then
one <Say>, then perhaps <Hangup/>); anything else is kept as raw TwiML, which the answer view
serves only if it passes the allowlist (otherwise the script is served). The host of a recording
already in use is allowed for its business, so those campaigns keep playing it."""

from urllib.parse import urlsplit
from xml.etree import ElementTree

from django.db import migrations

VOICES = {"", "man", "woman", "Polly.Joanna", "Polly.Matthew", "Polly.Amy", "Polly.Brian",
          "Polly.Lupe", "Polly.Celine", "Polly.Vicki"}
LANGUAGES = {"", "en-US", "en-GB", "es-US", "es-ES", "fr-FR", "de-DE"}


def as_script(twiml):
    """{say_text, voice, language, recording_url} saying what `twiml` says, or None."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return None
    if root.tag != "Response" or root.attrib:
        return None
    verbs = list(root)
    if verbs and verbs[-1].tag == "Hangup" and not verbs[-1].attrib:
        verbs = verbs[:-1]
    script = {"say_text": "", "voice": "", "language": "", "recording_url": ""}
    if verbs and verbs[0].tag == "Play":
        play = verbs.pop(0)
        url = (play.text or "").strip()
        if play.attrib or len(play) or urlsplit(url).scheme != "https":
            return None
        script["recording_url"] = url
    if verbs and verbs[0].tag == "Say":
        say = verbs.pop(0)
        voice, language = say.attrib.get("voice", ""), say.attrib.get("language", "")
        if set(say.attrib) - {"voice", "language"} or len(say):
            return None
        if voice not in VOICES or language not in LANGUAGES:
            return None
        script.update(say_text=(say.text or "").strip(), voice=voice, language=language)
    if verbs or not (script["say_text"] or script["recording_url"]):
        return None
    return script


def convert(apps, schema_editor):
    Campaign = apps.get_model("calls", "Campaign")
    for campaign in Campaign.objects.select_related("business").iterator():
        script = as_script(campaign.twiml)
        if script is None:
            campaign.raw_twiml = campaign.twiml
            campaign.save(update_fields=["raw_twiml"])
            continue
        for name, value in script.items():
            setattr(campaign, name, value)
        campaign.raw_twiml = ""
        campaign.save(update_fields=[*script, "raw_twiml"])
        if script["recording_url"]:
            business = campaign.business
            host = urlsplit(script["recording_url"]).hostname
            hosts = business.allowed_recording_hosts.split()
            if host not in hosts:
                business.allowed_recording_hosts = "\n".join([*hosts, host])
                business.save(update_fields=["allowed_recording_hosts"])


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0006_tenants_scripts_and_retention"),
    ]

    operations = [
        migrations.RunPython(convert, migrations.RunPython.noop),
    ]
