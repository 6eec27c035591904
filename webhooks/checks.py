"""Deploy checks: the development switches of the webhooks must be off in production."""

from django.conf import settings
from django.core.checks import Warning


def webhook_targets_check(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    problems = []
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        problems.append(
            Warning(
                "WEBHOOK_ALLOW_PRIVATE_TARGETS is on: a business's webhook URL may reach this "
                "network's internal addresses (server-side request forgery).",
                hint="Unset WEBHOOK_ALLOW_PRIVATE_TARGETS in production.",
                id="webhooks.W001",
            )
        )
    if settings.WEBHOOK_ALLOW_HTTP:
        problems.append(
            Warning(
                "WEBHOOK_ALLOW_HTTP is on: webhooks may travel unencrypted.",
                hint="Unset WEBHOOK_ALLOW_HTTP in production.",
                id="webhooks.W002",
            )
        )
    return problems
