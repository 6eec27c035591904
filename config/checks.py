"""What production (DEBUG off) demands: a refusal to start on development secrets, development
switches or short tokens, and deploy checks (`manage.py check --deploy`) for those, the public
URL and the proxies trusted for the client's address.

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

import django
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host

from config.encryption import key_problems, secret_stored

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
# Bearer tokens (/healthz, /metrics) are compared whole, so only their length guards them.
TOKEN_MIN_LENGTH = 32


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
    problems += _encryption_key_problems()
    if not any(p.startswith("TWILIO_ACCOUNT_SID ") for p in problems):
        if not ACCOUNT_SID.fullmatch(settings.TWILIO_ACCOUNT_SID):
            problems.append("TWILIO_ACCOUNT_SID is not an account SID (AC and 32 hex digits).")
    return problems


def _encryption_key_problems() -> list[str]:
    """Keys that are not Fernet keys or are the development one; and no keys at all while a
    secret is stored (it could be neither read nor written)."""
    keys = settings.FIELD_ENCRYPTION_KEYS
    problems = key_problems(keys)
    if settings.DEV_FIELD_ENCRYPTION_KEY in keys:
        problems.append("FIELD_ENCRYPTION_KEYS holds the development key.")
    if not keys:
        if not apps.ready:
            django.setup()
        if secret_stored():
            problems.append(
                "FIELD_ENCRYPTION_KEYS is not set, and the database holds encrypted secrets "
                "(Twilio auth tokens, webhook secrets)."
            )
    return problems


def production_switch_problems() -> list[str]:
    """One sentence per development switch or weak token production must not run with; none
    with DEBUG on. The switches exist for development and the tests' own stacks."""
    if settings.DEBUG:
        return []
    problems = []
    if settings.WEBHOOK_ALLOW_HTTP:
        problems.append("WEBHOOK_ALLOW_HTTP is on: webhooks could travel unencrypted.")
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        problems.append(
            "WEBHOOK_ALLOW_PRIVATE_TARGETS is on: a business's webhook URL could reach this "
            "network's internal addresses."
        )
    if settings.FAULT_POINTS:
        problems.append(
            f"FAULT_POINTS is set ({', '.join(settings.FAULT_POINTS)}): a process would kill "
            "itself there."
        )
    for name in ("HEALTHZ_TOKEN", "METRICS_TOKEN"):
        token = getattr(settings, name)
        if token and len(token) < TOKEN_MIN_LENGTH:
            problems.append(
                f"{name} is {len(token)} characters; at least {TOKEN_MIN_LENGTH} random ones."
            )
    return problems


def production_problems() -> list[str]:
    return production_secret_problems() + production_switch_problems()


def refuse_unsafe_start(argv: list[str]) -> None:
    """manage.py: exits, naming each problem, unless the command needs no secrets."""
    command = argv[1] if len(argv) > 1 else "help"
    if command in COMMANDS_WITHOUT_SECRETS:
        return
    if problems := production_problems():
        sys.exit(_refusal(problems))


def refuse_unsafe_web() -> None:
    """config/wsgi.py: the web server fails to boot, naming each problem."""
    if problems := production_problems():
        raise ImproperlyConfigured(_refusal(problems))


def production_secrets_check(app_configs, **kwargs):
    return [
        Error(problem, hint=_HINT, id="config.E001") for problem in production_secret_problems()
    ] + [
        Error(problem, hint=_SWITCH_HINT, id="config.E005")
        for problem in production_switch_problems()
    ]


def trusted_proxies_check(app_configs, **kwargs):
    """The login lockout counts failures per client address: the one the nearest of
    TRUSTED_PROXY_COUNT proxies saw. A count that does not fit what stands in front either lets
    each client name its own address (and never be locked out) or makes all clients one
    address (one client's failures lock everyone out). Each warning fires only on settings
    that contradict each other."""
    if settings.DEBUG:
        return []
    count = settings.TRUSTED_PROXY_COUNT
    forwarded_proto = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
    if count > 0 and not forwarded_proto and settings.SECURE_SSL_REDIRECT:
        # Behind a TLS-terminating proxy this redirect would loop: so no proxy is in front.
        return [
            Warning(
                f"TRUSTED_PROXY_COUNT is {count}, but this service redirects to HTTPS itself "
                "without trusting X-Forwarded-Proto, so no TLS-terminating proxy stands in "
                "front: a client writes X-Forwarded-For itself and dodges the login lockout.",
                hint="Without a proxy set TRUSTED_PROXY_COUNT=0; behind one, set "
                "TRUST_X_FORWARDED_PROTO=true (README, Deploying).",
                id="config.W001",
            )
        ]
    if count <= 0 and forwarded_proto:
        return [
            Warning(
                "TRUST_X_FORWARDED_PROTO says a proxy stands in front, but TRUSTED_PROXY_COUNT "
                "is 0: every client counts as the proxy's address, and one client's failed "
                "logins lock everyone out.",
                hint="Set TRUSTED_PROXY_COUNT to the number of proxies that append to "
                "X-Forwarded-For (README, Deploying: 1 on Heroku, 2 on Render).",
                id="config.W002",
            )
        ]
    return []


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
_SWITCH_HINT = "Unset it or lengthen it in the environment (see .env.example)."


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
