from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Whether a number may be called: calling windows, the calling rules by jurisdiction and
    purpose (kept as data files with their sources), the do-not-call lists, later consent."""

    name = "compliance"
    verbose_name = "Compliance"

    def ready(self):
        from compliance import checks  # noqa: F401  (registers the rule files' system check)
