"""The service's WSGI application plus one bench-only baseline view, in one deployment.

    gunicorn bench.baseline_wsgi

`POST /bench/baseline/<pk>` does the least a webhook can do: one primary-key UPDATE of a
CallLog, no signature check, no form, no event row, no task. The webhook benchmark compares the
real status callback with it, served by the same processes with the same settings and
middleware, so the ratio is the cost of the service's own work.

`POST /bench/signed/<pk>` does the least a status callback the service may trust can do: the
service's own signature check (`twilio_webhook`) and body parse (`status_callback_parse`),
then the same one UPDATE. Its rate against the baseline's bounds what any callback could reach.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db.models.functions import Now  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

import config.urls  # noqa: E402
from calls.forms import status_callback_parse  # noqa: E402
from calls.models import CallLog  # noqa: E402
from calls.views import twilio_webhook  # noqa: E402


@csrf_exempt
@require_POST
def baseline(request, pk):
    CallLog.objects.filter(pk=pk).update(updated_at=Now())
    return HttpResponse(status=204)


@twilio_webhook
def signed(request, pk):
    status_callback_parse(request.POST)
    CallLog.objects.filter(pk=pk).update(updated_at=Now())
    return HttpResponse(status=204)


# Appended before the first request builds the URL resolver, so they are served like any other.
config.urls.urlpatterns += [
    path("bench/baseline/<int:pk>", baseline),
    path("bench/signed/<int:pk>", signed),
]

application = get_wsgi_application()
