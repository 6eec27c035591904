"""The only module that reads the environment. `.env.example` lists every setting."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# Development falls back to these (and to the local simulator); with DEBUG off, every process
# refuses to start on any of them or on .env.example's placeholders (config/checks.py).
DEV_SECRET_KEY = "dev-only-insecure-secret-key"
DEV_TWILIO_ACCOUNT_SID = "AC" + "0" * 32
DEV_TWILIO_AUTH_TOKEN = "dev-auth-token"
# A Fernet key everyone can read: secrets stored with it are only obscured (DEBUG only).
DEV_FIELD_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1maWVsZC1lbmNyeXB0aW8="

SECRET_KEY = env("SECRET_KEY", default="") or DEV_SECRET_KEY
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin with the operators' site: calls/admin_site.py.
    "calls.admin_site.OperatorsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    # Before django_q: its `qcluster` command replaces django-q2's (calls/cluster.py says why).
    "calls",
    "django_q",
    "leads",
    # Whether a number may be called: windows and the calling rules (compliance/rules/*.toml).
    "compliance",
    # The HTTP API (/api/v1/); "ninja" serves its documentation's scripts from static files.
    "ninja",
    "api",
    "webhooks",
    # Twilio accounts (a subaccount per tenant), their credentials and calls per second.
    "twilio_accounts",
]

MIDDLEWARE = [
    "config.middleware.DatabaseUnavailableMiddleware",
    # Before anything reads a body (the CSRF check parses every POST's).
    "config.middleware.UploadSizeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Times in the operator's own zone (UTC unless they chose one).
    "calls.preferences.OperatorTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with its own response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # First, so that calls/templates/admin/base_site.html and index.html override the admin's
        # own (apps' directories are searched in INSTALLED_APPS order, the admin's before calls).
        "DIRS": [BASE_DIR / "calls" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker write concurrently: take the write lock when a transaction starts and wait
    # for it, instead of failing with "database is locked" half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator()) would
    # outlive the transaction that opened it on a pooled connection (docs/deploy.md).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every password set through a form (a new member's, a change, a reset) passes Django's four
# validators: long enough, not one of the 20,000 most common, not all digits, not like the
# user's own name or e-mail address.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times read with seconds and the zone named ("2026-11-03 14:54:07 UTC"), so a callback trail
# lines up with Twilio's console: config/formats/en/formats.py.
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# HTTPS only in production: each is on unless DEBUG, and each can be turned off (README,
# "Deploying"); turning one off also silences the deploy check that would repeat the decision.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Platforms and load balancers probe over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Only behind a proxy that sets X-Forwarded-Proto itself (and drops a client's): trusted from
# anyone else, it lets a client pass plain HTTP off as HTTPS.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SILENCED_SYSTEM_CHECKS = [
        check
        for check, on in (
            ("security.W008", SECURE_SSL_REDIRECT),
            ("security.W004", SECURE_HSTS_SECONDS),
            ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
            ("security.W021", SECURE_HSTS_PRELOAD),
            ("security.W012", SESSION_COOKIE_SECURE),
            ("security.W016", CSRF_COOKIE_SECURE),
        )
        if not on
    ]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"no_client_tracebacks": {"()": "config.log_filters.NoClientErrorTracebacks"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) would print each of its records a second
        # time beside the root's: its records go to the root's handler alone.
        "django": {"handlers": []},
        "django.request": {"filters": ["no_client_tracebacks"]},
        # The worker's start and stop lines show at any LOG_LEVEL (`make run` runs at WARNING).
        "calls.cluster": {"level": "INFO"},
        "django-q": {"level": env("DJANGO_Q_LOG_LEVEL", default="WARNING")},
        # The Twilio library logs every request's headers and the callee's number at INFO.
        "twilio": {"level": env("THIRD_PARTY_LOG_LEVEL", default="WARNING")},
        "urllib3": {"level": env("THIRD_PARTY_LOG_LEVEL", default="WARNING")},
    },
}

# Twilio
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="") or DEV_TWILIO_ACCOUNT_SID
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="") or DEV_TWILIO_AUTH_TOKEN
# The token Twilio signed with before a rotation: webhooks signed with it are still accepted
# until it is removed (README, "Rotating the Twilio auth token").
TWILIO_AUTH_TOKEN_PREVIOUS = env("TWILIO_AUTH_TOKEN_PREVIOUS", default="")
# Fernet keys for the secrets kept in the database (Twilio auth tokens, webhook secrets),
# comma-separated: the first encrypts, every one decrypts (config/encryption.py). With DEBUG off
# and a secret stored, every process refuses to start without them (config/checks.py).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or (
    [DEV_FIELD_ENCRYPTION_KEY] if DEBUG else []
)
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
TWILIO_API_BASE_URL = env(
    "TWILIO_API_BASE_URL", default="http://127.0.0.1:8765" if DEBUG else ""
).rstrip("/")
TWILIO_HTTP_TIMEOUT_SECONDS = env.float("TWILIO_HTTP_TIMEOUT_SECONDS", default=10.0)
TWILIO_CALLS_PER_SECOND = env.int("TWILIO_CALLS_PER_SECOND", default=1)
TWILIO_MAX_CONCURRENT_CALLS = env.int("TWILIO_MAX_CONCURRENT_CALLS", default=None)
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", default="US")
CALL_RING_TIMEOUT_SECONDS = env.int("CALL_RING_TIMEOUT_SECONDS", default=30)
CALL_TIME_LIMIT_SECONDS = env.int("CALL_TIME_LIMIT_SECONDS", default=3600)
# Wall-clock seconds one dispatch task works before handing back what it did not send; with the
# HTTP timeout it must stay well inside the task timeout (Q_CLUSTER["timeout"], a system check).
DISPATCH_BUDGET_SECONDS = env.float("DISPATCH_BUDGET_SECONDS", default=30.0)
# Twilio's call list is eventually consistent: a call missing from it is taken as never placed
# only when a second look this many seconds after the first misses it too.
TWILIO_LIST_LAG_SECONDS = env.int("TWILIO_LIST_LAG_SECONDS", default=60)

# The cleanup
ORPHAN_CALL_SECONDS = env.int("ORPHAN_CALL_SECONDS", default=120)
RECONCILE_AFTER_SECONDS = env.int("RECONCILE_AFTER_SECONDS", default=600)
STUCK_CALL_SECONDS = env.int(
    "STUCK_CALL_SECONDS", default=CALL_RING_TIMEOUT_SECONDS + CALL_TIME_LIMIT_SECONDS + 300
)
# Twilio prices a call some time after it ends: the cleanup asks for the price of calls that
# ended this long ago, at most this many calls per run (oldest first).
PRICE_AFTER_SECONDS = env.int("PRICE_AFTER_SECONDS", default=120)
PRICE_CHECKS_PER_RUN = env.int("PRICE_CHECKS_PER_RUN", default=50)

# Caller numbers' health (calls/services/number_health.py): a number is judged over its ended
# calls of the last NUMBER_HEALTH_DAYS once it has NUMBER_HEALTH_MIN_ATTEMPTS of them, and is
# quarantined when its answer rate falls below NUMBER_ANSWER_RATE_FRACTION of its pool's median,
# or more than NUMBER_MAX_REJECTED_SHARE of its calls were rejected (SIP 603/608), or more than
# NUMBER_MAX_SHORT_SHARE of its answered calls lasted under 6 s; it returns after
# NUMBER_QUARANTINE_HOURS. The dashboard warns when an account's outbound calls under 12 s reach
# SHORT_CALL_WARNING_SHARE of a month's (Twilio allows at most 10 %).
NUMBER_HEALTH_DAYS = env.int("NUMBER_HEALTH_DAYS", default=7)
# The cleanup judges the numbers at most this often (seconds).
NUMBER_HEALTH_EVERY_SECONDS = env.int("NUMBER_HEALTH_EVERY_SECONDS", default=600)
NUMBER_HEALTH_MIN_ATTEMPTS = env.int("NUMBER_HEALTH_MIN_ATTEMPTS", default=50)
NUMBER_ANSWER_RATE_FRACTION = env.float("NUMBER_ANSWER_RATE_FRACTION", default=0.5)
NUMBER_MAX_REJECTED_SHARE = env.float("NUMBER_MAX_REJECTED_SHARE", default=0.2)
NUMBER_MAX_SHORT_SHARE = env.float("NUMBER_MAX_SHORT_SHARE", default=0.5)
NUMBER_QUARANTINE_HOURS = env.int("NUMBER_QUARANTINE_HOURS", default=72)
SHORT_CALL_WARNING_SHARE = env.float("SHORT_CALL_WARNING_SHARE", default=0.08)

# /healthz tells anyone which check failed; its details need a superuser's session or this token.
HEALTHZ_TOKEN = env("HEALTHZ_TOKEN", default="")

# Mail (a manager's invitations): EMAIL_URL as django-environ reads it, e.g.
# smtp+tls://user:password@smtp.example.com:587; development prints each mail to the console.
vars().update(
    env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="calls@localhost")

# `make run`'s admin password, kept out of git and the same across runs.
DEV_ADMIN_PASSWORD_FILE = BASE_DIR / env("DEV_ADMIN_PASSWORD_FILE", default=".run/admin-password")

# Fault points (calls/faults.py): the end-to-end tests name the steps at which a process kills
# itself, once; FAULT_DIR holds the markers that make each fire once. Never set in production.
FAULT_POINTS = env.list("FAULT_POINTS", default=[])
FAULT_DIR = env("FAULT_DIR", default="")

# django-q2: docs/architecture.md ("The task queue") says why each value is what it is.
REDIS_URL = env("REDIS_URL", default="")
Q_WORKERS = env.int("Q_WORKERS", default=2)
Q_CLUSTER = {
    "name": env("Q_CLUSTER_NAME", default="calls"),
    "workers": Q_WORKERS,
    # The longest task is a dispatch waiting for calls-per-second tokens (it claims ~30 s worth)
    # or a reconcile waiting on Twilio's HTTP timeout. `retry` must exceed timeout + 3 s + the
    # prefetch wait (up to one timeout with queue_limit = workers), or a running task is handed
    # to a second worker.
    "timeout": 60,
    "retry": 150,
    "queue_limit": Q_WORKERS,
    "max_attempts": 3,
    "guard_cycle": 0.5,
    "catch_up": False,
    "save_limit": 250,
    # A worker process is replaced after this many tasks, or past this resident size (KiB).
    "recycle": env.int("Q_RECYCLE", default=500),
    "max_rss": env.int("Q_MAX_RSS_KB", default=262144),
    "ALT_CLUSTERS": {},  # the webhooks' cluster, below
    "log_level": env("DJANGO_Q_LOG_LEVEL", default="WARNING"),
}
# The cleanup's lease: past the longest run (the task timeout), short of a period and its lateness
# (60 + 30 s), so a run killed holding it delays the cleanup by one period at most.
CLEANUP_LEASE_SECONDS = env.int("CLEANUP_LEASE_SECONDS", default=Q_CLUSTER["timeout"] + 5)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    # django-q2 picks the ORM broker whenever `orm` is set, so it is set only without Redis.
    Q_CLUSTER["orm"] = "default"
    # An ended call's refill waits for the next poll of dialing's queue: half of it on average,
    # all of it at worst. One idle poll is one indexed SELECT (20 a second at 0.05 s).
    Q_CLUSTER["poll"] = env.float("Q_ORM_POLL_SECONDS", default=0.05)

# Tenants, admin login throttling, retention (issue 11)
# An admin action on more rows than this is refused with the reason: select fewer or filter.
ADMIN_ACTION_MAX_ROWS = env.int("ADMIN_ACTION_MAX_ROWS", default=200)
# Raw callback parameters hold numbers and caller details: kept this long (0 = for good).
CALLBACK_PARAMS_RETENTION_DAYS = env.int("CALLBACK_PARAMS_RETENTION_DAYS", default=30)
# Ended calls and closed requests: kept this long (0 = for good).
CALL_RETENTION_DAYS = env.int("CALL_RETENTION_DAYS", default=365)
# Rows each retention step touches per cleanup run.
RETENTION_BATCH = env.int("RETENTION_BATCH", default=1000)

# django-axes throttles the admin login: after AXES_FAILURE_LIMIT failed logins from one address
# (whatever the user names tried), that address waits AXES_COOLOFF_TIME hours. The address is
# the one the nearest trusted proxy saw (TRUSTED_PROXY_COUNT proxies in front of the web
# process, 0 without one); addresses further left in X-Forwarded-For can be forged.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_TIME_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
# No banner on every manage.py command; failed logins and lockouts are still logged.
AXES_VERBOSE = False
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"

# The operator's console (issue 13)
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is not served (404).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Most rows one CSV export holds; a list with more is refused with the reason (filter it).
EXPORT_MAX_ROWS = env.int("EXPORT_MAX_ROWS", default=10000)
# Most numbers one paste or upload gives a campaign (each is validated and queued in the request).
CAMPAIGN_UPLOAD_MAX_ROWS = env.int("CAMPAIGN_UPLOAD_MAX_ROWS", default=5000)
# Largest campaign file or paste, refused by its size before it is read: room for each row's
# number and a name.
CAMPAIGN_UPLOAD_MAX_BYTES = env.int(
    "CAMPAIGN_UPLOAD_MAX_BYTES", default=CAMPAIGN_UPLOAD_MAX_ROWS * 200
)
# Largest body of any file upload, refused from its Content-Length before it is read: the
# do-not-call import's 5 MB and the form around it (config/middleware.py).
UPLOAD_MAX_BYTES = env.int(
    "UPLOAD_MAX_BYTES", default=max(6_000_000, CAMPAIGN_UPLOAD_MAX_BYTES + 1_000_000)
)
# Seconds between the dashboard's refreshes in the browser.
DASHBOARD_REFRESH_SECONDS = env.int("DASHBOARD_REFRESH_SECONDS", default=5)

# The HTTP API (issue 14)
# Requests per minute per API key (a fixed window counted in the database, so across processes).
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=120)
# Most numbers one POST /api/v1/campaigns or /campaigns/<id>/numbers carries.
API_NUMBERS_MAX = env.int("API_NUMBERS_MAX", default=1000)
# Largest `metadata` object a call request keeps, in bytes of compact JSON.
API_METADATA_MAX_BYTES = env.int("API_METADATA_MAX_BYTES", default=4096)
# How long a POST's Idempotency-Key returns its first answer.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
# Most rows one page of GET /api/v1/calls holds.
API_PAGE_MAX = env.int("API_PAGE_MAX", default=100)

# Post-call webhooks (issue 14): webhooks/ and README's "Webhooks" say what each does.
# Seconds one delivery may take in all: resolving the host, connecting, sending, and reading the
# answer's status and headers (the body is never read). A deadline, not a per-read timeout: a
# receiver trickling a byte at a time cannot stretch it.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# The ports a webhook URL may name (WEBHOOK_ALLOW_PRIVATE_TARGETS lifts it with the address rule).
WEBHOOK_ALLOWED_PORTS = env.list("WEBHOOK_ALLOWED_PORTS", cast=int, default=[443])
# A message not delivered this many hours after it was created (or redelivered) is given up.
WEBHOOK_GIVE_UP_HOURS = env.float("WEBHOOK_GIVE_UP_HOURS", default=24.0)
# Plain http endpoints, and endpoints on loopback, private, link-local or reserved addresses:
# for development and tests only (no SSRF in production; `check --deploy` warns when on).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=DEBUG)
# Deliveries run in a django-q2 cluster of their own, which the `worker` command
# (calls/cluster.py) starts beside dialing's: a slow receiver can hold only these workers.
WEBHOOK_CLUSTER = f"{Q_CLUSTER['name']}-webhooks"
Q_WEBHOOK_WORKERS = env.int("Q_WEBHOOK_WORKERS", default=2)
Q_CLUSTER["ALT_CLUSTERS"] = {
    WEBHOOK_CLUSTER: {
        "workers": Q_WEBHOOK_WORKERS,
        "queue_limit": Q_WEBHOOK_WORKERS,
        # A delivery is a claim, one POST within WEBHOOK_TIMEOUT_SECONDS and its record (a
        # system check keeps the POST well inside); retry > 2 x timeout + 3, as for dialing's.
        "timeout": 30,
        "retry": 70,
        # A delivery is not what a paid-for line waits on: its queue is polled at django-q2's
        # default pace (ORM broker).
        "poll": 0.2,
    }
}
