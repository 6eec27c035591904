from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from calls import views
from calls.metrics import metrics


def favicon(request):
    # Browsers ask for /favicon.ico whatever a page links; a 404 each time fills the log.
    return redirect(static("calls/favicon.svg"), permanent=True)


# A refused page in the admin's style, saying what each role may do (calls/admin/console.py).
handler403 = "calls.admin.console.permission_denied"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("favicon.ico", favicon),
    path("healthz", views.health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("twilio/", include("calls.urls")),
    path("api/v1/", include("api.urls")),
]
