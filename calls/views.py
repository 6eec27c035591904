import functools
import logging

from django.conf import settings
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from calls.forms import (
    BadParameters,
    GatherForm,
    IncomingCallForm,
    MachineVerdictForm,
    audit_params,
    status_callback_parse,
)
from calls.health import health_checks, health_details_allowed
from calls.models import CallLog
from calls.scripts import campaign_twiml
from calls.services.callbacks import (
    Received,
    call_callback_receive,
    call_callback_record,
    inbound_business,
    inbound_call_receive,
)
from calls.services.do_not_call import call_keypress_record
from calls.services.machines import call_machine_verdict_record
from calls.services.status import StatusReport
from compliance.opt_outs import INBOUND_OPT_OUT_KEY, inbound_keypress_opt_out
from twilio_accounts.credentials import signing_account

logger = logging.getLogger(__name__)

FORM_ENCODED = "application/x-www-form-urlencoded"
OPT_OUT_CONFIRMATION = "You will not receive these calls again. Goodbye."
# How long the business's opt-out menu waits for a key on a call to its number.
INBOUND_MENU_SECONDS = 8


def twilio_webhook(view):
    """POST only, form-encoded, and only with a valid X-Twilio-Signature over PUBLIC_BASE_URL +
    the path, made with the auth token (or, during a rotation, the previous one) of the account
    its AccountSid names; a request from an account unknown here is refused. The view then
    refuses a request whose account is not its call's (`foreign_account`), so one tenant's
    account can never act on another's call."""

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.content_type != FORM_ENCODED:
            # Twilio posts form-encoded UTF-8. Other bodies are refused before they are parsed:
            # a multipart body declaring another charset decodes to text (lone surrogates) that
            # the signature check itself cannot encode.
            return HttpResponseBadRequest(f"Expected {FORM_ENCODED}.")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        signature = request.headers.get("X-Twilio-Signature", "")
        signer = signing_account(request.POST.get("AccountSid", ""))
        if signer is None:
            logger.warning("Rejected a webhook from an unknown Twilio account for %s", url)
            return HttpResponseForbidden("Unknown Twilio account.")
        if not any(
            RequestValidator(token).validate(url, request.POST, signature)
            for token in signer.tokens
        ):
            logger.warning("Rejected a webhook with a bad signature for %s", url)
            return HttpResponseForbidden("Invalid Twilio signature.")
        request.twilio_account_id = signer.account_id
        return view(request, *args, **kwargs)

    return wrapper


def foreign_account(request, account_id: int | None) -> HttpResponse | None:
    """403 when the signed request's account is not `account_id` (the call's or the called
    business's); None when it is."""
    if request.twilio_account_id == account_id:
        return None
    return _foreign_account_refusal(request)


def _foreign_account_refusal(request) -> HttpResponse:
    logger.warning("Rejected a webhook from another Twilio account for %s", request.path)
    return HttpResponseForbidden("This request's Twilio account is not the call's.")


def twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


def _status_report(data: dict) -> StatusReport:
    return StatusReport(
        status=data["CallStatus"],
        sequence_number=data["SequenceNumber"],
        duration_seconds=data["CallDuration"],
        answered_by=data["AnsweredBy"],
        error_code=data["ErrorCode"],
        error_message=data["ErrorMessage"],
        sip_response_code=data["SipResponseCode"],
    )


@twilio_webhook
def status_callback(request):
    """A status callback located by CallSid (the one set on a Twilio number, for inbound calls)."""
    try:
        data = status_callback_parse(request.POST)
    except BadParameters as error:
        return HttpResponseBadRequest(str(error))
    sid = data["CallSid"]
    call = CallLog.objects.filter(call_sid=sid).first()
    if call is None:
        logger.warning("Status callback for unknown call %s", sid)
        return HttpResponse(status=204)
    if refused := foreign_account(request, call.twilio_account_id):
        return refused
    report = _status_report(data)
    call_callback_record(
        call=call,
        sid=sid,
        report=report,
        sip_response_code=report.sip_response_code,
        params=audit_params(request.POST),
    )
    return HttpResponse(status=204)


@twilio_webhook
def call_status_callback(request, public_id):
    """The status callback of a call this service placed; it may arrive before the SID is known."""
    try:
        data = status_callback_parse(request.POST)
    except BadParameters as error:
        return HttpResponseBadRequest(str(error))
    received = call_callback_receive(
        public_id=public_id,
        account_id=request.twilio_account_id,
        sid=data["CallSid"],
        report=_status_report(data),
        params=audit_params(request.POST),
    )
    if received is Received.UNKNOWN_CALL:
        raise Http404("No such call.")
    if received is Received.FOREIGN_ACCOUNT:
        return _foreign_account_refusal(request)
    return HttpResponse(status=204)


@twilio_webhook
def call_answer(request, public_id):
    call = get_object_or_404(
        CallLog.objects.select_related("request__campaign__business"), public_id=public_id
    )
    if refused := foreign_account(request, call.twilio_account_id):
        return refused
    campaign = call.request.campaign if call.request else None
    if (
        call.is_terminal
        or call.hang_up_requested_at
        or (campaign and campaign.status == campaign.Status.CANCELED)
    ):
        # Ended, asked to hang up, or its campaign canceled: the callee hears nothing more.
        response = VoiceResponse()
        response.hangup()
        return twiml(response)
    if campaign:
        return HttpResponse(campaign_twiml(campaign, call), content_type="text/xml")
    response = VoiceResponse()
    response.say(f"Hello, this is a call from {call.business.name}. Thank you, goodbye.")
    return twiml(response)


@twilio_webhook
def call_machine_verdict(request, public_id):
    """Twilio's answering-machine detection verdict on a call this service placed."""
    call = get_object_or_404(CallLog, public_id=public_id)
    if refused := foreign_account(request, call.twilio_account_id):
        return refused
    form = MachineVerdictForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    data = form.cleaned_data
    call_machine_verdict_record(
        call=call,
        sid=data["CallSid"],
        answered_by=data["AnsweredBy"],
        params=audit_params(request.POST),
    )
    return HttpResponse(status=204)


@twilio_webhook
def call_gather(request, public_id):
    """The key the callee pressed at the campaign's opt-out prompt: the opt-out key lists the
    number and the call ends with a confirmation; any other key is recorded and the call ends.
    A report that is not this live outbound call's records nothing and hangs up."""
    call = get_object_or_404(
        CallLog.objects.select_related("request__campaign"), public_id=public_id
    )
    if refused := foreign_account(request, call.twilio_account_id):
        return refused
    form = GatherForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    keypress = call_keypress_record(
        call=call, digits=form.cleaned_data["Digits"], call_sid=form.cleaned_data["CallSid"]
    )
    response = VoiceResponse()
    if keypress.opted_out:
        campaign = call.request.campaign if call.request else None
        response.say(  # in the voice the callee just heard
            OPT_OUT_CONFIRMATION,
            voice=(campaign and campaign.voice) or None,
            language=(campaign and campaign.language) or None,
        )
    response.hangup()
    return twiml(response)


@twilio_webhook
def incoming_call(request):
    form = IncomingCallForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    data = form.cleaned_data
    business = inbound_business(to_number=data["To"])
    if business and (refused := foreign_account(request, business.twilio_account_id)):
        return refused
    call = inbound_call_receive(
        business=business,
        call_sid=data["CallSid"],
        from_number=data["From"],
        to_number=data["To"],
        status=data["CallStatus"],
    )
    response = VoiceResponse()
    if call is None:
        logger.warning("Inbound call %s to unknown number %s", data["CallSid"], data["To"])
        response.say("Sorry, this number is not in service. Goodbye.")
        response.hangup()
    elif call.business.inbound_opt_out_menu:
        name = call.business.name
        menu = response.gather(
            num_digits=1,
            timeout=INBOUND_MENU_SECONDS,
            action=f"{settings.PUBLIC_BASE_URL}/twilio/calls/{call.public_id}/opt-out-menu",
        )
        menu.say(
            f"Thank you for calling {name}. To stop all calls from {name}, press "
            f"{INBOUND_OPT_OUT_KEY}."
        )
        response.say("We will call you back shortly.")
    else:
        response.say(f"Thank you for calling {call.business.name}. We will call you back shortly.")
    return twiml(response)


@twilio_webhook
def inbound_opt_out_menu(request, public_id):
    """The key a caller pressed at the business's opt-out menu: the opt-out key revokes the
    caller's consents, lists the number and cancels its queued calls; any other key ends the
    call politely. A report that is not this inbound call's own changes nothing."""
    call = get_object_or_404(CallLog.objects.select_related("business"), public_id=public_id)
    if refused := foreign_account(request, call.business.twilio_account_id):
        return refused
    form = GatherForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    opted_out = inbound_keypress_opt_out(
        call=call, digits=form.cleaned_data["Digits"], call_sid=form.cleaned_data["CallSid"]
    )
    response = VoiceResponse()
    if opted_out:
        response.say(f"{call.business.name} will not call you again. Goodbye.")
    else:
        response.say("We will call you back shortly. Goodbye.")
    response.hangup()
    return twiml(response)


@require_GET
def health(request):
    """Database, broker, cluster heartbeat, last cleanup, oldest unsettled call: 200 or 503.
    Anyone learns which check failed; the details (errors, ages, queue size) only a superuser's
    session or `Authorization: Bearer <HEALTHZ_TOKEN>`, since a driver's error names the
    database's host, port, name and user."""
    checks = health_checks()
    ok = all(check["ok"] for check in checks.values())
    if not health_details_allowed(request):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)
