from django.conf import settings
from django.core.checks import Error


def production_settings(app_configs, **kwargs):
    """Refuse to run in production (DEBUG off) on the development fallbacks."""
    return [
        Error(
            f"{name} is not set.",
            hint=f"Set {name} in the environment (see .env.example), or DEBUG=true to develop.",
            id="config.E001",
        )
        for name in settings.MISSING_PRODUCTION_SETTINGS
    ]
