from django.contrib import admin
from django.urls import include, path

from calls import views
from calls.metrics import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("twilio/", include("calls.urls")),
    path("api/v1/", include("api.urls")),
]
