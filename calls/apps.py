from django.apps import AppConfig
from django.core import checks


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Calls"

    def ready(self):
        from config.checks import dispatch_budget, production_settings

        checks.register(production_settings, checks.Tags.security, deploy=True)
        checks.register(dispatch_budget)
