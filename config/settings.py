"""The only module that reads the environment. `.env.example` lists every setting."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# Development falls back to the local simulator's credentials; production must set its own and
# `config.checks.production_settings` names each one that is missing.
DEV_TWILIO_ACCOUNT_SID = "AC" + "0" * 32
DEV_TWILIO_AUTH_TOKEN = "dev-auth-token"
PRODUCTION_REQUIRED = ("SECRET_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")
MISSING_PRODUCTION_SETTINGS = (
    [] if DEBUG else [n for n in PRODUCTION_REQUIRED if not env(n, default="")]
)

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-secret-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "calls",
    "leads",
]

MIDDLEWARE = [
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django_q": {"level": env("DJANGO_Q_LOG_LEVEL", default="WARNING")}},
}

# Twilio
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default=DEV_TWILIO_ACCOUNT_SID)
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default=DEV_TWILIO_AUTH_TOKEN)
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

# The cleanup
ORPHAN_CALL_SECONDS = env.int("ORPHAN_CALL_SECONDS", default=120)
RECONCILE_AFTER_SECONDS = env.int("RECONCILE_AFTER_SECONDS", default=600)
STUCK_CALL_SECONDS = env.int(
    "STUCK_CALL_SECONDS", default=CALL_RING_TIMEOUT_SECONDS + CALL_TIME_LIMIT_SECONDS + 300
)

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
    "ALT_CLUSTERS": {},
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
    Q_CLUSTER["poll"] = 0.2
