"""Properties of the raw TwiML allowlist over generated documents: whatever passes, and whatever
the answer view serves, holds no verb that reaches out and no URL off the allowed hosts."""

from types import SimpleNamespace
from xml.etree import ElementTree

from hypothesis import given, settings
from hypothesis import strategies as st

from calls.scripts import campaign_twiml, twiml_refusals

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
]
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
    children = st.just([]) if depth == 0 else st.lists(elements(depth - 1), max_size=3)
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
    """What in a document could cost money, leak the call or fetch from an unknown host."""
    found = []
    for element in ElementTree.fromstring(twiml).iter():
        if element.tag in REACHING_OUT:
            found.append(element.tag)
        for value in [element.text or "", *element.attrib.values()]:
            if "://" in value and not value.startswith("https://media.example.com/"):
                found.append(value)
    return found


@settings(max_examples=150, deadline=None)
@given(documents)
def test_what_the_allowlist_accepts_never_reaches_out(twiml):
    if twiml_refusals(twiml, recording_hosts=HOSTS) == []:
        assert reaches_out(twiml) == []


@settings(max_examples=150, deadline=None)
@given(documents, st.text(max_size=40))
def test_the_answer_never_reaches_out_whatever_the_row_holds(twiml, say_text):
    business = SimpleNamespace(extra_twiml_verbs=[], recording_hosts=HOSTS)
    campaign = SimpleNamespace(
        pk=1,
        business=business,
        raw_twiml=twiml,
        say_text=say_text,
        voice="",
        language="",
        recording_url="https://evil.example/a.mp3",
    )
    served = campaign_twiml(campaign, SimpleNamespace(pk=1))
    assert reaches_out(served) == []
