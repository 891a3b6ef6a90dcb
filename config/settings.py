"""Settings, read once from the environment (see config/env.py and docs/deploy.md).

Development (DEBUG on) falls back to embedded defaults: a SQLite file, django-q2's
ORM broker and the local Facebook/Amplitude sandbox. Production (DEBUG off) refuses
to start when a secret is missing, naming the variable.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    load_dotenv,
    redis_from_url,
    require_in_production,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# ENV_FILE="" turns the .env file off (tests do, so a developer's demo settings never leak in).
_env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(Path(_env_file))

DEBUG = env_bool("DEBUG", False)

# Public on purpose: it only ever serves a developer's laptop (DEBUG on).
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = require_in_production(
    "SECRET_KEY", env_str("SECRET_KEY"), debug=DEBUG, dev_default=_DEV_SECRET_KEY
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. It is required when DEBUG is off (production): "
        "a comma-separated list of the host names this server answers to."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Where this server is reachable; the sandbox URLs below default to it.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")


def _dev_fernet_key(secret: str) -> str:
    """A stable Fernet key derived from the development SECRET_KEY."""
    digest = hashlib.sha256(f"token-encryption:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Fernet keys, comma-separated: the first encrypts, all of them decrypt (rotation).
TOKEN_ENCRYPTION_KEYS = env_list("TOKEN_ENCRYPTION_KEYS")
if not TOKEN_ENCRYPTION_KEYS:
    TOKEN_ENCRYPTION_KEYS = [
        require_in_production(
            "TOKEN_ENCRYPTION_KEYS", "", debug=DEBUG, dev_default=_dev_fernet_key(SECRET_KEY)
        )
    ]

# --- The local sandbox (emulated Facebook Graph API and Amplitude cohort API) -------
SANDBOX = env_bool("SANDBOX", DEBUG)
SANDBOX_BASE_URL = f"{SITE_URL}/sandbox"

# --- Facebook -------------------------------------------------------------------------
FACEBOOK_GRAPH_VERSION = env_str("FACEBOOK_GRAPH_VERSION", "v25.0")
FACEBOOK_GRAPH_URL = env_str(
    "FACEBOOK_GRAPH_URL", SANDBOX_BASE_URL if SANDBOX else "https://graph.facebook.com"
).rstrip("/")
# The OAuth dialog lives on www.facebook.com; the sandbox serves it beside its Graph API.
FACEBOOK_WWW_URL = env_str(
    "FACEBOOK_WWW_URL", FACEBOOK_GRAPH_URL if SANDBOX else "https://www.facebook.com"
).rstrip("/")
# The sandbox accepts this made-up app; a real deployment sets its own app.
_SANDBOX_APP_ID = "100000000000001"
_SANDBOX_APP_SECRET = "sandbox-app-secret"  # noqa: S105 (the sandbox's made-up app)
FACEBOOK_APP_ID = env_str("FACEBOOK_APP_ID") or (_SANDBOX_APP_ID if SANDBOX else "")
FACEBOOK_APP_SECRET = env_str("FACEBOOK_APP_SECRET") or (_SANDBOX_APP_SECRET if SANDBOX else "")
if not DEBUG and not SANDBOX:
    require_in_production("FACEBOOK_APP_ID", FACEBOOK_APP_ID, debug=False, dev_default="")
    require_in_production("FACEBOOK_APP_SECRET", FACEBOOK_APP_SECRET, debug=False, dev_default="")
FACEBOOK_SCOPES = ["ads_management", "business_management", "ads_read"]
GRAPH_TIMEOUT_SECONDS = env_float("GRAPH_TIMEOUT_SECONDS", 60.0)
# Retries of transient and throttled Graph calls: bounded in attempts and in total time.
GRAPH_RETRY_MAX_ATTEMPTS = env_int("GRAPH_RETRY_MAX_ATTEMPTS", 6)
GRAPH_RETRY_BASE_DELAY = env_float("GRAPH_RETRY_BASE_DELAY", 1.0)
GRAPH_RETRY_MAX_SECONDS = env_float("GRAPH_RETRY_MAX_SECONDS", 300.0)
# A throttle announcing a longer wait ends the run (it resumes later) instead of holding a worker.
GRAPH_MAX_THROTTLE_WAIT = env_float("GRAPH_MAX_THROTTLE_WAIT", 120.0)
# How long to wait on a throttle that names no wait of its own.
GRAPH_UNKNOWN_THROTTLE_WAIT = env_float("GRAPH_UNKNOWN_THROTTLE_WAIT", 60.0)

# --- Amplitude --------------------------------------------------------------------------
# Empty means "the project's region host" (amplitude.com or analytics.eu.amplitude.com).
AMPLITUDE_API_URL = env_str("AMPLITUDE_API_URL", SANDBOX_BASE_URL if SANDBOX else "").rstrip("/")
AMPLITUDE_TIMEOUT_SECONDS = env_float("AMPLITUDE_TIMEOUT_SECONDS", 60.0)
# A cohort export is asynchronous: poll from 1 s, backing off to 10 s, for at most 15 minutes.
AMPLITUDE_POLL_INTERVAL_SECONDS = env_float("AMPLITUDE_POLL_INTERVAL_SECONDS", 1.0)
AMPLITUDE_POLL_MAX_INTERVAL_SECONDS = env_float("AMPLITUDE_POLL_MAX_INTERVAL_SECONDS", 10.0)
AMPLITUDE_EXPORT_TIMEOUT_SECONDS = env_float("AMPLITUDE_EXPORT_TIMEOUT_SECONDS", 900.0)
# Amplitude's monthly cap on cohort downloads (Growth and Enterprise plans): shown, with a warning near it.
AMPLITUDE_MONTHLY_DOWNLOAD_CAP = env_int("AMPLITUDE_MONTHLY_DOWNLOAD_CAP", 500)
# What each cohort's members encoded to last time (cohorts/member_memo.py), kept on the
# worker's disk: a refresh then encodes only the members whose values changed. A cache:
# lost or on another machine, the refresh encodes everyone. Empty turns it off.
COHORT_MEMBER_CACHE_DIR = env_str("COHORT_MEMBER_CACHE_DIR", str(Path(tempfile.gettempdir()) / "cohort-sync-members"))

# --- Sync engine ------------------------------------------------------------------------
SYNC_BATCH_MAX_ROWS = env_int("SYNC_BATCH_MAX_ROWS", 10_000)  # Meta's cap per request
SYNC_BATCH_MAX_BYTES = env_int("SYNC_BATCH_MAX_BYTES", 8_000_000)
SYNC_UPLOAD_CONCURRENCY = env_int("SYNC_UPLOAD_CONCURRENCY", 4)
# Above this share of the audience's people leaving or changing keys, a run replaces the
# audience (usersreplace) instead of sending removals and additions.
SYNC_REPLACE_CHANGE_SHARE = env_float("SYNC_REPLACE_CHANGE_SHARE", 0.5)
# A run that would remove more than this share of the audience waits for approval.
SYNC_REMOVAL_APPROVAL_SHARE = env_float("SYNC_REMOVAL_APPROVAL_SHARE", 0.2)
# A run whose heartbeat is older than this is considered dead and may be taken over.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 300)

# --- Django ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.facebook",
    "django_q",
    "integrations",
    "integrations.sandbox",
    "integrations.sandbox.amplitude",
    "cohorts",
    "syncs",
    "integrations.admetrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": database_from_url(env_str("DATABASE_URL"), base_dir=BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

SITE_ID = 1
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- django-allauth: Facebook as a connect-only provider ---------------------------------
# allauth computes its Graph and dialog URLs at import time, so they come from the same
# environment-backed values as our Graph client (see stack-notes.md).
SOCIALACCOUNT_PROVIDERS = {
    "facebook": {
        "METHOD": "oauth2",
        "SCOPE": FACEBOOK_SCOPES,
        "AUTH_PARAMS": {"auth_type": "rerequest"},
        "FIELDS": ["id", "name"],
        "VERSION": FACEBOOK_GRAPH_VERSION,
        "GRAPH_API_URL": f"{FACEBOOK_GRAPH_URL}/{FACEBOOK_GRAPH_VERSION}",
        "AUTHORIZE_URL": f"{FACEBOOK_WWW_URL}/{FACEBOOK_GRAPH_VERSION}/dialog/oauth",
        "EXCHANGE_TOKEN": True,
        "APP": {"client_id": FACEBOOK_APP_ID, "secret": FACEBOOK_APP_SECRET, "key": ""},
    }
}
# allauth's token table is plain text: we keep tokens only in our encrypted field.
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = int(GRAPH_TIMEOUT_SECONDS)
ACCOUNT_EMAIL_VERIFICATION = "none"
# Facebook only connects ad accounts to projects: no signup or login through allauth.
SOCIALACCOUNT_ADAPTER = "integrations.facebook.oauth.ConnectOnlySocialAccountAdapter"
ACCOUNT_ADAPTER = "integrations.facebook.oauth.ClosedSignupAccountAdapter"

# --- django-q2 -------------------------------------------------------------------------
# A task that runs longer than `retry` seconds is handed out again while still running,
# so timeout < retry; failures are acknowledged (no redelivery loop) and attempts are
# finite. Every task is idempotent anyway (runs are locked rows in the database).
REDIS_URL = env_str("REDIS_URL")
Q_TIMEOUT_SECONDS = env_int("Q_TIMEOUT_SECONDS", 1800)
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "cohortsync"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": Q_TIMEOUT_SECONDS,
    "retry": Q_TIMEOUT_SECONDS + 300,
    "max_attempts": 2,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 1,
    "label": "Task queue",
    "sync": env_bool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = redis_from_url(REDIS_URL)
else:
    Q_CLUSTER["orm"] = "default"

# --- Admin login throttling (integrations/login_throttle.py) ------------------------------
# Failed admin logins per username / per client address within the window; beyond them,
# logins are refused (even with the right password) until the window has passed.
LOGIN_THROTTLE_FAILURES = env_int("LOGIN_THROTTLE_FAILURES", 5)
LOGIN_THROTTLE_FAILURES_PER_ADDRESS = env_int("LOGIN_THROTTLE_FAILURES_PER_ADDRESS", 20)
LOGIN_THROTTLE_WINDOW_SECONDS = env_int("LOGIN_THROTTLE_WINDOW_SECONDS", 900)
LOGIN_THROTTLE_CACHE = "login_throttle"
# The counts are shared by every web process through Redis when there is one.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    LOGIN_THROTTLE_CACHE: (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "cohortsync"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "login-throttle"}
    ),
}

# --- Production hardening --------------------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"mask_secrets": {"()": "config.logging.MaskSecretsFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_secrets"]},
        # runserver's request log: same masking (the sandbox's Graph GETs carry tokens).
        "server": {"class": "logging.StreamHandler", "filters": ["mask_secrets"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # urllib3 logs full URLs at DEBUG, and Graph GET URLs carry access tokens.
        "urllib3": {"level": "WARNING"},
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
    },
}
