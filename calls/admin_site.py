"""The operators' admin site, which is Django's `admin.site` (settings name OperatorsAdminConfig
in place of django.contrib.admin): the dashboard, the time zone preference, the banner while
dialing is paused, and the business apps listed before the task queue and the accounts.

Outside the calls.admin package: the admin builds its site on the first registration, which
that package makes, so a site class inside it would be built twice (and lose the registrations).
Models are imported inside functions: INSTALLED_APPS names this module before they load.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import path, reverse_lazy

# The index lists these first, in this order; django-q2's models follow as "Task queue", then
# whatever else is installed (accounts, the login throttle).
APP_ORDER = ["calls", "leads", "compliance", "api", "webhooks", "django_q"]
APP_NAMES = {"django_q": "Task queue"}


class OperatorsAdminSite(admin.AdminSite):
    site_header = "Outbound calls"
    site_title = "Outbound calls"
    index_title = "Operations"
    # "View site": the service has no site of its own beside the admin; its front page is this.
    site_url = reverse_lazy("admin:dashboard")
    # The sidebar repeating the index takes a quarter of a 1280 px screen from every list; the
    # breadcrumbs, the index and the dashboard link at the top of each page lead everywhere.
    enable_nav_sidebar = False

    def get_urls(self):
        from calls.admin import console, invitations
        from compliance import admin_views

        urls = [
            # Outside the admin's login: the invited person may have no account yet.
            path(
                "invitations/<str:token>/",
                invitations.invitation_accept_view,
                name="invitation-accept",
            ),
            path("dashboard/", self.admin_view(console.dashboard), name="dashboard"),
            path(
                "dashboard/resume/<int:business_id>/",
                self.admin_view(console.business_resume),
                name="dashboard-resume",
            ),
            path("preferences/", self.admin_view(console.preferences), name="preferences"),
            path(
                "compliance/rules/",
                self.admin_view(admin_views.calling_rules),
                name="calling-rules",
            ),
        ]
        return urls + super().get_urls()

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        for app in apps:
            app["name"] = APP_NAMES.get(app["app_label"], app["name"])

        def position(app):
            label = app["app_label"]
            return (APP_ORDER.index(label) if label in APP_ORDER else len(APP_ORDER), app["name"])

        return sorted(apps, key=position)

    def each_context(self, request):
        from calls.preferences import operator_time_zone

        context = super().each_context(request)
        user = request.user
        if user.is_active and user.is_staff:
            context["dialing_alerts"] = dialing_alerts(user)
            context["operator_time_zone"] = operator_time_zone(request)
        return context


def dialing_alerts(user) -> dict:
    """What the banner on every page says: what keeps calls from being placed (a silent worker,
    a stuck queue, a late cleanup: calls.health), all dialing paused, and the user's paused
    businesses (the first few, and how many in all)."""
    from calls.dashboard import dialing_paused
    from calls.health import dialing_health
    from calls.tenancy import businesses_for

    paused = businesses_for(user).exclude(paused_reason="").order_by("name")
    first = list(paused[:3])
    more = paused.count() - len(first) if len(first) == 3 else 0
    return {
        "health": dialing_health(),
        "all": dialing_paused(),
        "businesses": first,
        "more": more,
    }


class OperatorsAdminConfig(AdminConfig):
    default_site = "calls.admin_site.OperatorsAdminSite"

    def ready(self):
        from calls.admin.scoping import superuser_only_elsewhere

        super().ready()  # every app's admin module registers here
        superuser_only_elsewhere(admin.site)
