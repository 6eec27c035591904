from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured


def production_settings(app_configs, **kwargs):
    """A deploy check (`manage.py check --deploy`): production (DEBUG off) must not run on the
    development fallbacks. Registered for deploys only, so schema and shell commands work in a
    bare checkout; the Procfile and the WSGI entry point refuse to start on it."""
    return [
        Error(
            f"{name} is not set.",
            hint=f"Set {name} in the environment (see .env.example), or DEBUG=true to develop.",
            id="config.E001",
        )
        for name in settings.MISSING_PRODUCTION_SETTINGS
    ]


def refuse_missing_production_settings() -> None:
    if settings.MISSING_PRODUCTION_SETTINGS:
        missing = ", ".join(settings.MISSING_PRODUCTION_SETTINGS)
        raise ImproperlyConfigured(f"Production (DEBUG off) needs these settings: {missing}.")


def dispatch_budget(app_configs, **kwargs):
    """A dispatch works for its budget, then may wait on one more create (the HTTP timeout): both
    must fit well inside django-q2's task timeout, or the worker is killed mid-batch."""
    used = settings.DISPATCH_BUDGET_SECONDS + settings.TWILIO_HTTP_TIMEOUT_SECONDS + 5
    timeout = settings.Q_CLUSTER["timeout"]
    if used <= timeout:
        return []
    return [
        Error(
            f"DISPATCH_BUDGET_SECONDS + TWILIO_HTTP_TIMEOUT_SECONDS + 5 s ({used:g} s) exceeds "
            f"the task timeout ({timeout} s).",
            hint="Lower DISPATCH_BUDGET_SECONDS or TWILIO_HTTP_TIMEOUT_SECONDS.",
            id="config.E002",
        )
    ]
