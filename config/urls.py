from django.contrib import admin
from django.urls import include, path

from calls import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", views.health, name="health"),
    path("twilio/", include("calls.urls")),
]
