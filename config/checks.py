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
