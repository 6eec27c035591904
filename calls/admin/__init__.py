"""The operators' admin, one module per part; `scoping` is the mechanism every part uses.

Admins of other apps (the task queue, login throttling, accounts) are for superusers only:
a member's access comes from its memberships, never from Django's per-model permissions.
"""

from django.apps import apps
from django.contrib import admin

from calls.admin import audit, businesses, calls, campaigns, do_not_call, memberships  # noqa: F401
from calls.admin.scoping import SuperuserOnly

for app_label in ("django_q", "axes", "auth"):
    for model in apps.get_app_config(app_label).get_models():
        if admin.site.is_registered(model):
            model_admin = type(admin.site.get_model_admin(model))
            admin.site.unregister(model)
            admin.site.register(model, type(model_admin.__name__, (SuperuserOnly, model_admin), {}))
