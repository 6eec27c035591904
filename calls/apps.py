from django.apps import AppConfig
from django.core import checks


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Calls"

    def ready(self):
        from calls.faults import fault_points_check
        from config.checks import production_settings

        checks.register(production_settings, checks.Tags.security, deploy=True)
        checks.register(fault_points_check)
