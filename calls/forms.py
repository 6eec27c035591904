from django import forms

from calls.models import CallLog

CALL_SID = r"^CA[0-9a-fA-F]{32}$"


class StatusCallbackForm(forms.Form):
    """The parts of a Twilio status callback this service uses; the rest is kept raw."""

    CallSid = forms.RegexField(regex=CALL_SID)
    CallStatus = forms.ChoiceField(
        choices=[(s, s) for s in CallLog.RANK if s != CallLog.Status.PENDING]
    )
    SequenceNumber = forms.IntegerField(min_value=0, required=False)
    CallDuration = forms.IntegerField(min_value=0, required=False)
    SipResponseCode = forms.IntegerField(min_value=0, max_value=32767, required=False)
    AnsweredBy = forms.CharField(max_length=32, required=False)
    ErrorCode = forms.CharField(max_length=32, required=False)
    ErrorMessage = forms.CharField(required=False)


class IncomingCallForm(forms.Form):
    CallSid = forms.RegexField(regex=CALL_SID)
    From = forms.CharField(max_length=64)
    To = forms.CharField(max_length=64)
    CallStatus = forms.CharField(max_length=16, required=False)
