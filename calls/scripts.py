"""What an answered outbound call hears: a campaign's script, rendered with twilio-python's
VoiceResponse, or (superusers only) raw TwiML limited to a short allowlist of verbs.

Raw TwiML is the toll-fraud door: `<Dial>` a premium-rate number, `<Redirect>` to someone
else's server, `<Record>` the callee. The allowlist is checked when a campaign is saved and again
every time the answer view serves it, so a row written without the admin (a shell, a migration,
a later API) is never served past it.
"""

import logging
import re
from urllib.parse import urlsplit
from xml.etree import ElementTree

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from twilio.twiml.voice_response import VoiceResponse

logger = logging.getLogger(__name__)

DEFAULT_SAY = "Hello. This is an automated call. Thank you, goodbye."
DEFAULT_OPT_OUT_PROMPT = "To stop these calls, press 9."
# Characters XML 1.0 cannot carry (control characters, lone surrogates): one in the text would
# make the whole answer unreadable to Twilio, and the callee would hear an application error.
NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Twilio takes at most this many characters of TwiML in a call update (the voicemail drop).
UPDATE_TWIML_MAX = 4000

# Verbs (and their attributes) any raw TwiML may use: they speak, play, wait and hang up, and
# none of them reaches a number, a URL that answers with more TwiML, or a recorder.
SAFE_VERBS = {
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Hangup": set(),
}
# SSML a <Say> may hold (Twilio's list); it only shapes speech.
SSML_TAGS = {
    "break",
    "emphasis",
    "lang",
    "p",
    "phoneme",
    "prosody",
    "s",
    "say-as",
    "sub",
    "w",
    "amazon:domain",
    "amazon:effect",
}
# Verbs a business may be allowed, one by one, by a superuser: each can cost money (Dial,
# Refer, Connect), hand the call to another server (Redirect, Gather's action) or record the
# callee (Record). Their attributes are not checked: allowing one trusts its author.
GUARDED_VERBS = ["Dial", "Redirect", "Record", "Refer", "Connect", "Gather"]


class Voice(models.TextChoices):
    DEFAULT = "", "Twilio's default"
    MAN = "man"
    WOMAN = "woman"
    JOANNA = "Polly.Joanna", "Joanna (English, US)"
    MATTHEW = "Polly.Matthew", "Matthew (English, US)"
    AMY = "Polly.Amy", "Amy (English, UK)"
    BRIAN = "Polly.Brian", "Brian (English, UK)"
    LUPE = "Polly.Lupe", "Lupe (Spanish, US)"
    CELINE = "Polly.Celine", "Céline (French)"
    VICKI = "Polly.Vicki", "Vicki (German)"


class Language(models.TextChoices):
    DEFAULT = "", "Twilio's default"
    EN_US = "en-US", "English (US)"
    EN_GB = "en-GB", "English (UK)"
    ES_US = "es-US", "Spanish (US)"
    ES_ES = "es-ES", "Spanish (Spain)"
    FR_FR = "fr-FR", "French"
    DE_DE = "de-DE", "German"


def validate_guarded_verbs(verbs) -> None:
    unknown = sorted(set(verbs or []) - set(GUARDED_VERBS))
    if unknown:
        raise ValidationError(f"Unknown verbs: {', '.join(unknown)}")


def url_host_allowed(url: str, hosts: list[str]) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "") in hosts


def twiml_refusals(twiml: str, *, extra_verbs=(), recording_hosts=()) -> list[str]:
    """Why this raw TwiML may not be served (empty when it may)."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError as error:
        return [f"Not valid XML: {error}"]
    if root.tag != "Response" or root.attrib:
        return ["TwiML must have a bare <Response> as its root element."]
    refusals = []
    # Text belongs in <Say> (spoken) and <Play> (its URL); anywhere else it has no business.
    if (root.text or "").strip() or any((verb.tail or "").strip() for verb in root):
        refusals.append("<Response> may hold verbs only, not text.")
    for verb in root:
        if verb.tag in extra_verbs:
            continue
        allowed = SAFE_VERBS.get(verb.tag)
        if allowed is None:
            refusals.append(f"<{verb.tag}> is not allowed for this business.")
            continue
        unknown = sorted(set(verb.attrib) - allowed)
        if unknown:
            refusals.append(f"<{verb.tag}> may not have {', '.join(unknown)}.")
        text = (verb.text or "").strip()
        if verb.tag == "Say":
            refusals += [
                f"<{tag.tag}> is not speech markup."
                for tag in verb.iter()
                if tag is not verb
                if tag.tag not in SSML_TAGS
            ]
        elif len(verb):
            refusals.append(f"<{verb.tag}> may not contain other elements.")
        if verb.tag == "Play" and "digits" in verb.attrib:
            if text:
                refusals.append("<Play> plays digits or a recording, not both.")
        elif verb.tag == "Play":
            if not url_host_allowed(text, list(recording_hosts)):
                refusals.append(f"<Play> of {text!r}: not an https URL on an allowed host.")
        elif verb.tag != "Say" and text:
            refusals.append(f"<{verb.tag}> may not hold text.")
    return refusals


def business_twiml_refusals(twiml: str, business) -> list[str]:
    return twiml_refusals(
        twiml, extra_verbs=business.extra_twiml_verbs, recording_hosts=business.recording_hosts
    )


def script_twiml(
    *,
    say_text: str,
    voice: str,
    language: str,
    recording_url: str,
    opt_out_prompt: str = "",
    gather_url: str = "",
) -> str:
    """The structured script as TwiML: the recording, then the text. With a `gather_url`, both
    and then the opt-out prompt are inside a one-key <Gather> that posts the key there, so the
    callee may press it at any moment; with no key pressed the call ends after the prompt."""
    response = VoiceResponse()
    say_text = NOT_XML.sub("", say_text)
    if not recording_url and not say_text:
        response.hangup()
        return str(response)
    speaking = response
    if gather_url:
        speaking = response.gather(num_digits=1, action=gather_url, method="POST")
    if recording_url:
        speaking.play(recording_url)
    if say_text:
        speaking.say(say_text, voice=voice or None, language=language or None)
    opt_out_prompt = NOT_XML.sub("", opt_out_prompt) if gather_url else ""
    if opt_out_prompt:
        speaking.say(opt_out_prompt, voice=voice or None, language=language or None)
    return str(response)


def voicemail_twiml(campaign) -> str:
    """What a machine records after its beep: the campaign's voicemail message in the script's
    voice, then the end of the call; only the end when there is no message."""
    response = VoiceResponse()
    text = NOT_XML.sub("", campaign.voicemail_text) if campaign else ""
    if text:
        response.say(text, voice=campaign.voice or None, language=campaign.language or None)
    response.hangup()
    return str(response)


def default_twiml() -> str:
    """The default of the TwiML field campaigns had before scripts (migration 0001 names it)."""
    return script_twiml(say_text=DEFAULT_SAY, voice="", language="", recording_url="")


def script_errors(campaign, business, *, raw: bool = True) -> dict:
    """What is wrong with a campaign's script, by field (empty when nothing is); its raw TwiML
    only with `raw`."""
    errors = {}
    if campaign.recording_url and not url_host_allowed(
        campaign.recording_url, business.recording_hosts
    ):
        errors["recording_url"] = "Not an https URL on one of the business's allowed hosts."
    if raw and campaign.raw_twiml:
        refusals = business_twiml_refusals(campaign.raw_twiml, business)
        if refusals:
            errors["raw_twiml"] = refusals
    if not (campaign.say_text or campaign.recording_url or campaign.raw_twiml):
        errors["say_text"] = "Say something, or play a recording."
    return errors


def campaign_twiml(campaign, call) -> str:
    """What the callee of `call` hears when it answers: the campaign's raw TwiML if it passes the
    allowlist now, else its script (a recording only from an allowed host)."""
    business = campaign.business
    if campaign.raw_twiml:
        refusals = business_twiml_refusals(campaign.raw_twiml, business)
        if not refusals:
            root = ElementTree.fromstring(campaign.raw_twiml)
            # Served as parsed, so what was checked is exactly what Twilio gets.
            return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)
        logger.error(
            "Campaign %s: raw TwiML refused for call %s (%s); its script is served instead.",
            campaign.pk,
            call.pk,
            "; ".join(refusals),
        )
    recording_url = campaign.recording_url
    if recording_url and not url_host_allowed(recording_url, business.recording_hosts):
        logger.error(
            "Campaign %s: recording %r is not on an allowed host.", campaign.pk, recording_url
        )
        recording_url = ""
    return script_twiml(
        say_text=campaign.say_text,
        voice=campaign.voice,
        language=campaign.language,
        recording_url=recording_url,
        opt_out_prompt=campaign.opt_out_prompt or DEFAULT_OPT_OUT_PROMPT,
        gather_url=gather_url(call) if campaign.offers_opt_out else "",
    )


def gather_url(call) -> str:
    """Where Twilio posts the key the callee pressed (built like the answer and status URLs)."""
    return f"{settings.PUBLIC_BASE_URL}/twilio/calls/{call.public_id}/gather"
