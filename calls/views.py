import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Max, Min
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from calls import services
from calls.forms import IncomingCallForm, StatusCallbackForm
from calls.models import CallLog, Lease

logger = logging.getLogger(__name__)


def twilio_webhook(view):
    """POST only, and only with a valid X-Twilio-Signature over PUBLIC_BASE_URL + the path."""

    @csrf_exempt
    @require_POST
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, request.POST, signature):
            logger.warning("Rejected a webhook with a bad signature for %s", url)
            return HttpResponseForbidden("Invalid Twilio signature.")
        return view(request, *args, **kwargs)

    return wrapper


def twiml(response: VoiceResponse) -> HttpResponse:
    return HttpResponse(str(response), content_type="text/xml")


def _status_report(form: StatusCallbackForm) -> services.StatusReport:
    data = form.cleaned_data
    return services.StatusReport(
        status=data["CallStatus"],
        sequence_number=data["SequenceNumber"],
        duration_seconds=data["CallDuration"],
        answered_by=data["AnsweredBy"],
        error_code=data["ErrorCode"],
        error_message=data["ErrorMessage"],
    )


def _record_callback(request, call: CallLog | None) -> HttpResponse:
    form = StatusCallbackForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    sid = form.cleaned_data["CallSid"]
    call = call or CallLog.objects.filter(call_sid=sid).first()
    if call is None:
        logger.warning("Status callback for unknown call %s", sid)
        return HttpResponse(status=204)
    services.call_callback_record(
        call=call,
        sid=sid,
        report=_status_report(form),
        sip_response_code=form.cleaned_data["SipResponseCode"],
        params=request.POST.dict(),
    )
    return HttpResponse(status=204)


@twilio_webhook
def status_callback(request):
    """A status callback located by CallSid (the one set on a Twilio number, for inbound calls)."""
    return _record_callback(request, None)


@twilio_webhook
def call_status_callback(request, public_id):
    """The status callback of a call this service placed; it may arrive before the SID is known."""
    return _record_callback(request, get_object_or_404(CallLog, public_id=public_id))


@twilio_webhook
def call_answer(request, public_id):
    call = get_object_or_404(
        CallLog.objects.select_related("request__campaign"), public_id=public_id
    )
    campaign = call.request.campaign if call.request else None
    if campaign:
        return HttpResponse(campaign.twiml, content_type="text/xml")
    response = VoiceResponse()
    response.say(f"Hello, this is a call from {call.business.name}. Thank you, goodbye.")
    return twiml(response)


@twilio_webhook
def incoming_call(request):
    form = IncomingCallForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text())
    data = form.cleaned_data
    call = services.inbound_call_receive(
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
    else:
        response.say(f"Thank you for calling {call.business.name}. We will call you back shortly.")
    return twiml(response)


CLEANUP_MAX_AGE = timedelta(minutes=5)
HEARTBEAT_MAX_AGE = timedelta(minutes=3)


@require_GET
def health(request):
    """Database, broker, cluster heartbeat, last cleanup, oldest unsettled call: 200 or 503."""
    now = timezone.now()
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as error:  # the point of a health check is to report any failure
        checks["database"] = {"ok": False, "error": str(error)}
        return JsonResponse({"ok": False, "checks": checks}, status=503)
    checks["broker"] = _broker_check()
    checks["cluster"] = _age_check(_last_task_finished(), HEARTBEAT_MAX_AGE, "no task has finished")
    lease = Lease.objects.filter(name=services.CLEANUP_LEASE).first()
    checks["cleanup"] = _age_check(
        lease and lease.last_succeeded_at, CLEANUP_MAX_AGE, "the cleanup has never succeeded"
    )
    oldest = CallLog.objects.filter(status__in=CallLog.LIVE_STATUSES).aggregate(Min("created_at"))
    oldest_at = oldest["created_at__min"]
    stuck_after = timedelta(seconds=settings.STUCK_CALL_SECONDS) + 2 * timedelta(minutes=1)
    checks["oldest_unsettled_call"] = {
        "ok": oldest_at is None or now - oldest_at <= stuck_after,
        "age_seconds": round((now - oldest_at).total_seconds()) if oldest_at else None,
    }
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"ok": ok, "checks": checks}, status=200 if ok else 503)


def _age_check(at, max_age: timedelta, never: str) -> dict:
    if at is None:
        return {"ok": False, "error": never, "age_seconds": None}
    age = timezone.now() - at
    check = {"ok": age <= max_age, "age_seconds": round(age.total_seconds())}
    if not check["ok"]:
        check["error"] = f"older than {int(max_age.total_seconds())} s"
    return check


def _broker_check() -> dict:
    from django_q.brokers import get_broker

    broker = get_broker()
    try:
        alive = bool(broker.ping())
    except Exception as error:  # a broker client raises its own types; all mean "down"
        return {"ok": False, "name": type(broker).__name__, "error": str(error)}
    return {"ok": alive, "name": type(broker).__name__, "queued": broker.queue_size()}


def _last_task_finished():
    from django_q.models import Task

    return Task.objects.aggregate(last=Max("stopped"))["last"]
