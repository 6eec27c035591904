from django.apps import AppConfig
from django.core import checks


class CallsConfig(AppConfig):
    name = "calls"
    verbose_name = "Calls"

    def ready(self):
        from calls.faults import fault_points_check
        from config.checks import (
            dispatch_budget,
            production_secrets_check,
            public_base_url_check,
            trusted_proxies_check,
        )

        checks.register(production_secrets_check, checks.Tags.security, deploy=True)
        checks.register(public_base_url_check, checks.Tags.security, deploy=True)
        checks.register(trusted_proxies_check, checks.Tags.security, deploy=True)
        checks.register(dispatch_budget)
        checks.register(fault_points_check)
