"""Checks: a delivery fits its cluster's task timeout; and (deploy) the development switches of
the webhooks are off in production."""

from django.conf import settings
from django.core.checks import Error, Warning

# The claim and the attempt's record around the POST: a few queries, with room for lock waits.
RECORD_SECONDS = 10


def webhook_timeout_check(app_configs, **kwargs):
    timeout = settings.Q_CLUSTER["ALT_CLUSTERS"][settings.WEBHOOK_CLUSTER]["timeout"]
    if settings.WEBHOOK_TIMEOUT_SECONDS + RECORD_SECONDS <= timeout:
        return []
    return [
        Error(
            f"WEBHOOK_TIMEOUT_SECONDS ({settings.WEBHOOK_TIMEOUT_SECONDS:g}) leaves less than "
            f"{RECORD_SECONDS} s of the webhook cluster's {timeout} s task timeout: a delivery "
            "would be killed before it records its attempt.",
            hint=f"Keep WEBHOOK_TIMEOUT_SECONDS at or below {timeout - RECORD_SECONDS}.",
            id="webhooks.E001",
        )
    ]


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
