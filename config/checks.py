"""What production (DEBUG off) demands: a refusal to start on development secrets, and deploy
checks (`manage.py check --deploy`) for those secrets and the public URL.

django-q2 signs its pickled tasks with SECRET_KEY, so a worker on a public key with a reachable
broker runs whatever it is sent; the Twilio auth token is what proves a webhook came from Twilio.
So manage.py and config/wsgi.py refuse to start on a development default or an `.env.example`
placeholder, before anything else runs: every process but the commands a release or build step
runs before the secrets are there (the schema commands, `collectstatic`), and `check`, which
reports the same problems as errors instead.
"""

import re
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host

SECRET_KEY_MIN_LENGTH = 50
COMMANDS_WITHOUT_SECRETS = {
    "migrate",
    "makemigrations",
    "showmigrations",
    "sqlmigrate",
    "collectstatic",
    "check",
    "help",
    "version",
    "--help",
    "-h",
    "--version",
}
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")


def production_secret_problems() -> list[str]:
    """One sentence per secret production must not run on; none with DEBUG on."""
    if settings.DEBUG:
        return []
    placeholders = _example_values()
    problems = []
    for name, development in (
        ("SECRET_KEY", settings.DEV_SECRET_KEY),
        ("TWILIO_ACCOUNT_SID", settings.DEV_TWILIO_ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", settings.DEV_TWILIO_AUTH_TOKEN),
    ):
        value = getattr(settings, name)
        if value == development:
            problems.append(f"{name} is not set.")
        elif value == placeholders.get(name):
            problems.append(f"{name} is the placeholder from .env.example.")
    # Webhooks signed with it are accepted: a public token would let anyone forge them.
    if settings.TWILIO_AUTH_TOKEN_PREVIOUS in (
        settings.DEV_TWILIO_AUTH_TOKEN,
        placeholders.get("TWILIO_AUTH_TOKEN"),
    ):
        problems.append("TWILIO_AUTH_TOKEN_PREVIOUS is a development or placeholder token.")
    if not any(p.startswith("SECRET_KEY ") for p in problems):
        key = settings.SECRET_KEY
        if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < 5:
            problems.append(
                f"SECRET_KEY is too short or too plain ({len(key)} characters; at least "
                f"{SECRET_KEY_MIN_LENGTH} random ones)."
            )
    if not any(p.startswith("TWILIO_ACCOUNT_SID ") for p in problems):
        if not ACCOUNT_SID.fullmatch(settings.TWILIO_ACCOUNT_SID):
            problems.append("TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits).")
    return problems


def refuse_unsafe_start(argv: list[str]) -> None:
    """manage.py: exits, naming each problem, unless the command needs no secrets."""
    command = argv[1] if len(argv) > 1 else "help"
    if command in COMMANDS_WITHOUT_SECRETS:
        return
    if problems := production_secret_problems():
        sys.exit(_refusal(problems))


def refuse_unsafe_web() -> None:
    """config/wsgi.py: the web server fails to boot, naming each problem."""
    if problems := production_secret_problems():
        raise ImproperlyConfigured(_refusal(problems))


def production_secrets_check(app_configs, **kwargs):
    return [
        Error(problem, hint=_HINT, id="config.E001") for problem in production_secret_problems()
    ]


def public_base_url_check(app_configs, **kwargs):
    """Twilio signs each webhook over PUBLIC_BASE_URL: it must be the very URL Twilio calls,
    over https in production, and on a host this service answers."""
    url = urlsplit(settings.PUBLIC_BASE_URL)
    errors = []
    if not settings.DEBUG and url.scheme != "https":
        errors.append(
            Error(
                f"PUBLIC_BASE_URL ({settings.PUBLIC_BASE_URL}) is not an https URL.",
                hint="Set it to the https URL Twilio reaches this service at.",
                id="config.E002",
            )
        )
    if url.hostname and not validate_host(url.hostname, settings.ALLOWED_HOSTS):
        errors.append(
            Error(
                f"The host of PUBLIC_BASE_URL ({url.hostname}) is not in ALLOWED_HOSTS.",
                hint="Add it to ALLOWED_HOSTS, or every webhook from Twilio is refused.",
                id="config.E003",
            )
        )
    return errors


_HINT = "Set it in the environment (see .env.example), or DEBUG=true to develop."


def _refusal(problems: list[str]) -> str:
    return (
        "Refusing to start in production (DEBUG off): "
        + " ".join(problems)
        + " Set each in the environment (see .env.example), or DEBUG=true to develop."
    )


def _example_values() -> dict[str, str]:
    """NAME=value lines of .env.example: its placeholders, refused as values."""
    try:
        lines = (settings.BASE_DIR / ".env.example").read_text().splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.partition("=") for line in lines if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, _, value in pairs}


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
            id="config.E004",
        )
    ]
