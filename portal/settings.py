"""Settings for the portal.

Every value an operator may change comes from the environment; the README lists
them all. The defaults suit a first run on one machine: SQLite and a generated
secret key under ``var/``, mail printed to the console, plain HTTP on loopback.
"""

import json
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.env import env_bool, env_int, env_list, env_str, persistent_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Core -------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
# A first run without SECRET_KEY generates one and keeps it in var/, so sessions
# survive restarts. Several servers must share one: set SECRET_KEY on each.
SECRET_KEY = env_str("SECRET_KEY") or persistent_secret_key(VAR_DIR / "secret_key")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

SITE_NAME = env_str("SITE_NAME", "NuGet Portal")
# Public base URL, e.g. https://nuget.example.com. Unset: built from each request.
SITE_URL = env_str("SITE_URL", "").rstrip("/")
if SITE_URL and urlsplit(SITE_URL).scheme not in ("http", "https"):
    raise ImproperlyConfigured("SITE_URL must start with http:// or https://")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
if SITE_URL:
    _site = urlsplit(SITE_URL)
    if f"{_site.scheme}://{_site.netloc}" not in CSRF_TRUSTED_ORIGINS:
        CSRF_TRUSTED_ORIGINS.append(f"{_site.scheme}://{_site.netloc}")
    if _site.hostname and _site.hostname not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_site.hostname)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "csp",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "audit",
    "accounts",
    "packages",
    "apikeys",
    "trustedpublishing",
    "feed",
    "portal",
]

MIDDLEWARE = [
    # Outermost: every answer gets its request ID, log fields and metrics, even
    # one from whitenoise or a redirect to HTTPS (portal/middleware.py).
    "portal.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Package downloads are answered here, as whitenoise answers static files:
    # the middleware below serves pages (feed/flatcontainer.py).
    "feed.flatcontainer.PackageDownloadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the language cookie (set by the footer's switcher), else the
    # browser's Accept-Language, else LANGUAGE_CODE. URLs carry no language prefix.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A private feed's answers are marked private (feed/access.py).
    "feed.access.PrivateCacheMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.site",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

# gunicorn's gevent workers (gunicorn.conf.py) serve each client connection in a
# greenlet of its own, and Django keeps a database connection per greenlet: it serves
# every request of that keep-alive connection for up to CONN_MAX_AGE seconds, and the
# worker (portal/gunicorn_worker.py) closes it when the client goes. With the health
# check, one broken by a database outage is replaced at the next request; on
# PostgreSQL the check costs no round trip (portal/postgresql/base.py). Not
# psycopg's pool: after an outage it waits out a growing back-off before
# reconnecting, answering 503 for seconds after the database is back.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "portal.postgresql"
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # The statements sent on every request of a kind (audit.database) are
        # prepared once a connection has sent them five times, then run without
        # being planned: a download's lookup is planned in 0.1 ms and runs in
        # 0.015 ms. Django leaves this off for PgBouncer before 1.21, which loses
        # prepared statements in transaction mode.
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers share the file: WAL lets readers run beside the
    # writer, IMMEDIATE takes the write lock up front so transactions wait for
    # it (busy timeout) instead of failing half-way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
# Rate limits live in the cache, and must count every worker's attempts. With
# REDIS_URL (or CACHE_URL): a shared Redis, for every server. Without: Django's
# database cache, in a table that a migration creates (portal/migrations), which
# every worker of the machine, and every server sharing the database, reads. Not
# local memory: each gunicorn worker would count alone, and five workers would
# allow five times each limit.
_cache_url = env_str("CACHE_URL") or env_str("REDIS_URL")
if _cache_url:
    if urlsplit(_cache_url).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured("CACHE_URL/REDIS_URL must be a redis:// or rediss:// URL")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "portal"),
            # A Redis that stops answering (frozen, or a network that drops packets)
            # fails the request that waits on it after two seconds, instead of
            # holding it, and the worker, for as long as TCP waits.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "portal_cache",
            # Culling deletes live counters too once a table is this full: keep
            # it out of reach of a flood from many addresses (expired rows go first).
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- Authentication ---------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Argon2 first: new and upgraded passwords use it; the others only verify
# passwords hashed before a switch.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("PASSWORD_MIN_LENGTH", 10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

ACCOUNT_ADAPTER = "portal.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# Users may sign in before confirming, and are then told to confirm; API keys
# need a confirmed address.
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
ACCOUNT_USERNAME_MIN_LENGTH = 2
ACCOUNT_USERNAME_VALIDATORS = "portal.accounts.USERNAME_VALIDATORS"
ACCOUNT_USERNAME_BLACKLIST = ["admin", "administrator", "root", "support", "security", "api"]
# allauth's other limits (sign-up, password reset, email) keep their defaults.
_attempts = env_int("LOGIN_ATTEMPTS_LIMIT", 5)
_attempts_window = env_int("LOGIN_ATTEMPTS_TIMEOUT", 300)
ACCOUNT_RATE_LIMITS = {"login_failed": f"10/m/ip,{_attempts}/{_attempts_window}s/key"}
ACCOUNT_PASSWORD_INPUT_RENDER_VALUE = False
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# Behind a reverse proxy, rate limits must see the client's address, not the
# proxy's: say how many proxies stand in front.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME

# --- API keys ---------------------------------------------------------------
# Defaults live in apikeys/conf.py (and apikeys/secret_scanning.py); a variable
# that is set is passed through, one that is not leaves the app's default in charge.
# Unset peppers are derived from SECRET_KEY and SECRET_KEY_FALLBACKS.

# The three every key check reads are always defined, None when unset: a missing
# setting costs Django an exception on each read.
APIKEYS_PREFIX = env_str("APIKEYS_PREFIX") or None
APIKEYS_PEPPER = env_str("APIKEYS_PEPPER") or None
APIKEYS_PEPPER_FALLBACKS = (
    env_list("APIKEYS_PEPPER_FALLBACKS", []) if env_str("APIKEYS_PEPPER_FALLBACKS") else None
)
if env_str("APIKEYS_MAX_EXPIRATION_DAYS"):
    APIKEYS_MAX_EXPIRATION_DAYS = env_int("APIKEYS_MAX_EXPIRATION_DAYS", 0)
# The Expires In choices, e.g. "1,8,30"; checked in apikeys/conf.py.
if env_str("APIKEYS_EXPIRATION_CHOICES"):
    APIKEYS_EXPIRATION_CHOICES = env_str("APIKEYS_EXPIRATION_CHOICES")

# GitHub's secret scanning public keys (README: "GitHub secret scanning").
# Unset: the endpoint answers 503.
if env_str("SECRET_SCANNING_GITHUB_KEYS_FILE"):
    SECRET_SCANNING_GITHUB_KEYS_FILE = env_str("SECRET_SCANNING_GITHUB_KEYS_FILE")
if env_str("SECRET_SCANNING_MAX_BODY_SIZE"):
    SECRET_SCANNING_MAX_BODY_SIZE = env_int("SECRET_SCANNING_MAX_BODY_SIZE", 0)
# Refused reports per client address and window; defaults in apikeys/secret_scanning.py.
if env_str("SECRET_SCANNING_REFUSAL_LIMIT"):
    SECRET_SCANNING_REFUSAL_LIMIT = env_int("SECRET_SCANNING_REFUSAL_LIMIT", 0)
if env_str("SECRET_SCANNING_REFUSAL_WINDOW"):
    SECRET_SCANNING_REFUSAL_WINDOW = env_int("SECRET_SCANNING_REFUSAL_WINDOW", 0)

# --- Trusted publishing -------------------------------------------------------
# Defaults live in trustedpublishing/conf.py (README: "Trusted publishing"); a
# variable that is set is passed through.
if env_str("TRUSTED_PUBLISHING_ISSUERS") is not None:
    TRUSTED_PUBLISHING_ISSUERS = env_str("TRUSTED_PUBLISHING_ISSUERS")
if env_str("TRUSTED_PUBLISHING_AUDIENCE"):
    TRUSTED_PUBLISHING_AUDIENCE = env_str("TRUSTED_PUBLISHING_AUDIENCE")
if env_str("TRUSTED_PUBLISHING_KEY_MINUTES"):
    TRUSTED_PUBLISHING_KEY_MINUTES = env_int("TRUSTED_PUBLISHING_KEY_MINUTES", 0)
if env_str("TRUSTED_PUBLISHING_GITHUB_DENIED_EVENTS") is not None:
    TRUSTED_PUBLISHING_GITHUB_DENIED_EVENTS = env_str("TRUSTED_PUBLISHING_GITHUB_DENIED_EVENTS")
for _name in ("JWKS_TTL", "HTTP_TIMEOUT", "MINT_LIMIT", "MINT_WINDOW"):
    if env_str(f"TRUSTED_PUBLISHING_{_name}"):
        globals()[f"TRUSTED_PUBLISHING_{_name}"] = env_int(f"TRUSTED_PUBLISHING_{_name}", 0)

# --- Packages and the publish endpoint ----------------------------------------
# Defaults live in packages/conf.py and feed/conf.py; a variable that is set is
# passed through, one that is not leaves the app's default in charge.

if env_str("PACKAGES_MAX_SIZE"):
    PACKAGES_MAX_SIZE = env_int("PACKAGES_MAX_SIZE", 0)
if env_str("PACKAGES_MAX_UNCOMPRESSED_SIZE"):
    PACKAGES_MAX_UNCOMPRESSED_SIZE = env_int("PACKAGES_MAX_UNCOMPRESSED_SIZE", 0)
if env_str("PACKAGES_MAX_ENTRIES"):
    PACKAGES_MAX_ENTRIES = env_int("PACKAGES_MAX_ENTRIES", 0)
if env_str("PACKAGES_DOWNLOAD_FLUSH_SECONDS"):
    PACKAGES_DOWNLOAD_FLUSH_SECONDS = env_int("PACKAGES_DOWNLOAD_FLUSH_SECONDS", 0)
if env_str("PACKAGES_DOWNLOAD_CACHE_SECONDS"):
    PACKAGES_DOWNLOAD_CACHE_SECONDS = env_int("PACKAGES_DOWNLOAD_CACHE_SECONDS", 0)
if env_str("PACKAGES_DOWNLOAD_REDIRECT"):
    PACKAGES_DOWNLOAD_REDIRECT = env_int("PACKAGES_DOWNLOAD_REDIRECT", 0)
if env_str("FEED_AUTH_FAILURE_LIMIT"):
    FEED_AUTH_FAILURE_LIMIT = env_int("FEED_AUTH_FAILURE_LIMIT", 0)
if env_str("FEED_AUTH_FAILURE_WINDOW"):
    FEED_AUTH_FAILURE_WINDOW = env_int("FEED_AUTH_FAILURE_WINDOW", 0)
# "public" or "authenticated" (README: "Private feeds"); checked in feed/conf.py.
if env_str("FEED_READ_ACCESS"):
    FEED_READ_ACCESS = env_str("FEED_READ_ACCESS")

# --- Email ------------------------------------------------------------------

_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
_email_backend = env_str("EMAIL_BACKEND", "console")
EMAIL_BACKEND = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "noreply@localhost")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
ADMINS = [("Admin", a) for a in env_list("ADMINS", [])]

# --- Security headers and HTTPS ----------------------------------------------
# HTTPS=true turns every HTTPS setting on; each SECURE_* variable overrides it.

_https = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _https)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", _https)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", _https)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _https)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _https)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets X-Forwarded-Proto and strips the client's own.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
# Load balancers and Prometheus often talk plain HTTP to gunicorn itself: the
# health checks and metrics answer there instead of redirecting to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^health/(live|ready)$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"

# No inline script or style anywhere: every script and stylesheet is a file
# served from our own origin. JSON data blocks (type="application/json") are
# not scripts and stay allowed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # allauth draws the TOTP QR code as an SVG data URI.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# --- Internationalization ---------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italiano"))]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Static files -----------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# .nupkg files. Several servers need a shared backend: an S3 bucket (PACKAGES_S3_*),
# another Django storage backend (PACKAGES_STORAGE_BACKEND and _OPTIONS) or a shared
# folder (PACKAGES_DIR).
PACKAGES_S3_BUCKET = env_str("PACKAGES_S3_BUCKET", "")
if PACKAGES_S3_BUCKET and env_str("PACKAGES_STORAGE_BACKEND"):
    raise ImproperlyConfigured("Set PACKAGES_S3_BUCKET or PACKAGES_STORAGE_BACKEND, not both.")
if PACKAGES_S3_BUCKET:
    try:
        from botocore.config import Config as _S3Config
    except ImportError as error:
        raise ImproperlyConfigured(
            "PACKAGES_S3_BUCKET needs django-storages' S3 backend: pip install 'nuget-portal[s3]'"
        ) from error
    _packages_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": PACKAGES_S3_BUCKET,
            # Key prefix inside the bucket, so one bucket can hold other things too.
            "location": env_str("PACKAGES_S3_PREFIX", "").strip("/"),
            # Unset: AWS's own endpoint for the region. Set: an S3-compatible store.
            "endpoint_url": env_str("PACKAGES_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("PACKAGES_S3_REGION", "") or None,
            # Credentials: none here. boto3 finds them itself, in AWS_ACCESS_KEY_ID and
            # AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), a profile, or the instance's
            # or task's role; nothing secret sits in the portal's settings.
            # No ACL is sent: objects take the bucket's, which is private (and buckets
            # with ACLs disabled refuse requests that carry one).
            "default_acl": None,
            # The portal asks the store for a URL only to redirect a download to it
            # (PACKAGES_DOWNLOAD_REDIRECT), and that one must be signed.
            "querystring_auth": True,
            # A push writes each version's object at its final name (packages/storage.py),
            # over any leftover of a push that died before its commit.
            "file_overwrite": True,
            # A package read through the portal is fetched whole first (zip entries are
            # read at random); past 8 MiB it waits in a temporary file, not in memory.
            "max_memory_size": 8 * 1024 * 1024,
            "client_config": _S3Config(
                # path: bucket in the path (most S3-compatible stores); virtual: in
                # the host name; unset: boto3 decides (virtual on AWS).
                s3={"addressing_style": env_str("PACKAGES_S3_ADDRESSING_STYLE", "") or None},
                signature_version="s3v4",
                # A store that does not answer fails the request in seconds, not minutes.
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        },
    }
else:
    _packages_storage = {
        "BACKEND": env_str(
            "PACKAGES_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
        ),
        "OPTIONS": json.loads(env_str("PACKAGES_STORAGE_OPTIONS", "") or "{}")
        or {"location": str(Path(env_str("PACKAGES_DIR", str(VAR_DIR / "packages"))))},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "packages": _packages_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Health checks and metrics ------------------------------------------------
# README: "Health checks and metrics". gunicorn.conf.py reads METRICS_ENABLED too,
# to give the workers a PROMETHEUS_MULTIPROC_DIR.

HEALTH_CHECK_TIMEOUT = float(env_str("HEALTH_CHECK_TIMEOUT", "") or 2)
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# --- Logging ----------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (portal/logging.py), gunicorn's lines
# too (its logger class, in gunicorn.conf.py).

_log_format = (env_str("LOG_FORMAT", "plain") or "plain").strip().lower()
if _log_format not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "portal.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": _log_format}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "WARNING"},
    },
}
