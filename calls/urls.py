from django.urls import path

from calls import views

urlpatterns = [
    path("voice/incoming", views.incoming_call, name="incoming-call"),
    path("voice/status", views.status_callback, name="status-callback"),
    path("calls/<uuid:public_id>/status", views.call_status_callback, name="call-status-callback"),
    path("calls/<uuid:public_id>/answer", views.call_answer, name="call-answer"),
    path("calls/<uuid:public_id>/amd", views.call_machine_verdict, name="call-machine-verdict"),
    path("calls/<uuid:public_id>/gather", views.call_gather, name="call-gather"),
    path(
        "calls/<uuid:public_id>/opt-out-menu",
        views.inbound_opt_out_menu,
        name="inbound-opt-out-menu",
    ),
]
