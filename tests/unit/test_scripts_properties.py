"""Properties of the raw TwiML allowlist over generated documents: whatever passes, and whatever
the answer view serves, holds no verb that reaches out and no URL off the allowed hosts."""

from types import SimpleNamespace
from xml.etree import ElementTree

from hypothesis import given, settings
from hypothesis import strategies as st

from calls.scripts import campaign_twiml, gather_url, twiml_refusals

HOSTS = ["media.example.com"]
REACHING_OUT = {
    "Dial",
    "Redirect",
    "Record",
    "Refer",
    "Connect",
    "Gather",
    "Enqueue",
    "Start",
    "Stream",
    "Number",
    "Sip",
    "Client",
    "Conference",
    "Queue",
    "Pay",
    "Siprec",
}
TAGS = sorted(
    REACHING_OUT
    | {"Say", "Play", "Pause", "Hangup", "Response", "break", "prosody", "emphasis", "say-as"}
)
ATTRIBUTES = [
    "voice",
    "language",
    "loop",
    "digits",
    "length",
    "action",
    "url",
    "method",
    "statusCallback",
    "time",
    "src",
]
# Attributes that make Twilio fetch or post to a URL.
FETCHING = {"action", "url", "statusCallback", "src"}
TEXTS = st.sampled_from(
    [
        "",
        "hello",
        "+19005550100",
        "https://media.example.com/a.mp3",
        "https://evil.example/x",
        "http://media.example.com/a.mp3",
        "wss://evil.example/s",
    ]
)


def elements(depth=2):
    # Half the elements are leaves, so documents the allowlist accepts come up often.
    children = (
        st.just([])
        if depth == 0
        else st.one_of(st.just([]), st.lists(elements(depth - 1), max_size=3))
    )
    return st.builds(
        make_element,
        st.sampled_from(TAGS),
        st.dictionaries(st.sampled_from(ATTRIBUTES), TEXTS, max_size=2),
        TEXTS,
        children,
    )


def make_element(tag, attributes, text, children):
    element = ElementTree.Element(tag, attributes)
    element.text = text
    element.extend(children)
    return element


documents = st.builds(
    lambda children: ElementTree.tostring(make_element("Response", {}, "", children), "unicode"),
    st.lists(elements(), max_size=4),
)


def reaches_out(twiml: str) -> list[str]:
    """What in a document could cost money, leak the call or fetch from an unknown host: a verb
    that reaches out, an attribute that fetches, a recording off the allowed hosts, or a URL in
    text that is not spoken."""
    root = ElementTree.fromstring(twiml)
    spoken = {id(e) for say in root.iter("Say") for e in say.iter()}
    found = []
    for element in root.iter():
        if element.tag in REACHING_OUT:
            found.append(element.tag)
        found += [name for name in element.attrib if name in FETCHING]
        text, tail = (element.text or "").strip(), (element.tail or "").strip()
        if element.tag == "Play" and text and not text.startswith("https://media.example.com/"):
            found.append(text)
        if id(element) not in spoken and "://" in text and element.tag != "Play":
            found.append(text)
        if (id(element) not in spoken or element.tag == "Say") and "://" in tail:
            found.append(tail)
    return found


@settings(max_examples=300, deadline=None, derandomize=True)
@given(documents)
def test_what_the_allowlist_accepts_never_reaches_out(twiml):
    if twiml_refusals(twiml, recording_hosts=HOSTS) == []:
        assert reaches_out(twiml) == []


@settings(max_examples=300, deadline=None, derandomize=True)
@given(documents, st.text(max_size=40), st.booleans())
def test_the_answer_never_reaches_out_whatever_the_row_holds(twiml, say_text, offers_opt_out):
    business = SimpleNamespace(extra_twiml_verbs=[], recording_hosts=HOSTS)
    campaign = SimpleNamespace(
        pk=1,
        business=business,
        raw_twiml=twiml,
        say_text=say_text,
        voice="",
        language="",
        recording_url="https://evil.example/a.mp3",
        offers_opt_out=offers_opt_out,
        opt_out_prompt=say_text,
    )
    call = SimpleNamespace(pk=1, public_id="c0ffee")
    served = campaign_twiml(campaign, call)
    # The one exception: the opt-out prompt's <Gather>, which posts the key to this service.
    own = [
        g
        for g in ElementTree.fromstring(served).iter("Gather")
        if g.attrib == {"numDigits": "1", "method": "POST", "action": gather_url(call)}
    ]
    assert reaches_out(served) == ["Gather", "action"] * len(own)


def single_verbs():
    """Every one-verb document of a tag, at most one attribute (its value a foreign URL) and a
    text: few enough to check them all."""
    for tag in TAGS:
        for attribute in [None, *ATTRIBUTES]:
            for text in ["", "hello", "https://media.example.com/a.mp3", "https://evil.example/x"]:
                element = make_element(
                    tag, {attribute: "https://evil.example/cb"} if attribute else {}, text, []
                )
                yield ElementTree.tostring(make_element("Response", {}, "", [element]), "unicode")


def test_no_single_verb_the_allowlist_accepts_reaches_out():
    accepted = [t for t in single_verbs() if twiml_refusals(t, recording_hosts=HOSTS) == []]
    assert [(t, reaches_out(t)) for t in accepted if reaches_out(t)] == []
    # The allowlist is not empty: speaking, playing, pausing and hanging up get through.
    assert "<Response><Hangup /></Response>" in accepted
    assert "<Response><Play>https://media.example.com/a.mp3</Play></Response>" in accepted
