from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from django.core import checks

        from calls.models import CallRequest
        from calls.signals import requests_settled
        from webhooks.checks import webhook_targets_check, webhook_timeout_check

        checks.register(webhook_targets_check, checks.Tags.security, deploy=True)
        checks.register(webhook_timeout_check)
        requests_settled.connect(
            request_settled_receiver, sender=CallRequest, dispatch_uid="webhooks.settled"
        )


def request_settled_receiver(sender, request_ids, **kwargs):
    from webhooks.messages import requests_settled_announce

    requests_settled_announce(request_ids=request_ids)
