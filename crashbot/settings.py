"""Crashbot settings: every value comes from the environment (12-factor).

Local defaults are safe for a laptop (SQLite file, DEBUG on). With DEBUG=False
the server refuses to start unless SECRET_KEY and ALLOWED_HOSTS are given.
"""

import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-local-development-only")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not SECRET_KEY or not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG=False needs SECRET_KEY and ALLOWED_HOSTS in the environment.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.syndication",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    # Before django_tasks_db: its `db_worker` command also runs the scheduler (crashbot/scheduler.py).
    "crashbot",
    "django_tasks",
    "django_tasks_db",
    "incidents",
    "slackbridge",
    "monitoring",
    "subscriptions",
    "axes",
]

MIDDLEWARE = [
    # Request id (logs, X-Request-ID) and /metrics request counts for every answer, cached ones included.
    "crashbot.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # CSP and Permissions-Policy on every public response, cached ones included.
    "incidents.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Answers 304s and cached public bodies before the session/CSRF/auth work below.
    "incidents.caching.PublicCacheMiddleware",
    # After the public cache: public answers get X-Frame-Options from SecurityHeadersMiddleware.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last: answers a locked-out login (too many failures) with the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a login attempt while its username or client is locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "crashbot.urls"
WSGI_APPLICATION = "crashbot.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker write at once: WAL lets readers continue, IMMEDIATE takes the
    # write lock up front so two writers queue (busy timeout) instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: at 100,000 incidents the metrics queries' cost estimates crossed jit_above_cost and
    # each spent 0.2-1.2 s compiling for a 60 ms run (docs/BENCHMARKS.md, growth).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
# Persistent connections (both engines): opening SQLite and running its PRAGMAs on every
# request was most of the cost of a cached public response (docs/BENCHMARKS.md).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Production hardening (all overridable; `manage.py check --deploy` is clean with DEBUG=False).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The public API speaks JSON only, whatever `Accept` says: one cached body per URL.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "incidents.api.negotiation.JSONOnlyNegotiation",
}

# OpenAPI schema of the public API at /api/schema/ (issue 5; docs/PUBLIC_API.md).
SPECTACULAR_SETTINGS = {
    "TITLE": "Crashbot public API",
    "DESCRIPTION": (
        "Read-only, no login: the state of the platform as the status page shows it. `/api/v2/*` follows "
        "Atlassian Statuspage's v2 API, so Statuspage widgets and clients work unchanged; `/list` is the first "
        "Crashbot's format. Only public incidents and public updates appear. Every response is cacheable "
        "(ETag, Cache-Control) and compressed when the client accepts gzip or br."
    ),
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["incidents.api.schema.public_endpoints_only"],
    "ENUM_NAME_OVERRIDES": {
        "ImpactEnum": "incidents.api.statuspage.INCIDENT_IMPACTS",
        "IncidentStatusEnum": "incidents.api.statuspage.INCIDENT_STATUSES",
        "ComponentStatusEnum": "incidents.api.statuspage.COMPONENT_STATUSES",
        "MaintenanceStatusEnum": "incidents.api.statuspage.MAINTENANCE_STATUSES",
    },
}

# Public API: open CORS (the legacy status page calls /list from another origin with
# the custom headers `content-type` and `crashbot`, which triggers a preflight).
CORS_ALLOW_ALL_ORIGINS = True
CORS_URLS_REGEX = r"^/(list|api/v2/.*)$"
CORS_ALLOW_METHODS = ("GET", "HEAD", "OPTIONS")
CORS_ALLOW_HEADERS = (*default_headers, "crashbot", "if-none-match")
CORS_EXPOSE_HEADERS = ("etag",)
CORS_PREFLIGHT_MAX_AGE = 86400

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# Recurring jobs (crashbot/scheduling.py), run by every db_worker, one worker at a time per job.
SCHEDULER_POLL_SECONDS = env.float("SCHEDULER_POLL_SECONDS", default=1.0)
# How long a job's claim outlives a worker that died mid-run (renewed while the job runs).
SCHEDULER_LEASE_SECONDS = env.float("SCHEDULER_LEASE_SECONDS", default=60.0)
# Finished task rows (succeeded or failed) are pruned after this many days.
TASK_RESULTS_KEEP_DAYS = env.int("TASK_RESULTS_KEEP_DAYS", default=14)

# "default" is Django's own default; "public" keeps rendered public bodies per ETag
# (incidents/caching.py). Per process is enough: the version stamp decides freshness.
# CACHE_URL (e.g. redis://host:6379/0, Django's built-in Redis backend) makes "default" a store every
# process and node shares (docs/SCALING.md).
CACHES = {
    "default": env.cache_url("CACHE_URL")
    if env.str("CACHE_URL", default="")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "public": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "crashbot-public",
        "TIMEOUT": 600,
        "OPTIONS": {"MAX_ENTRIES": 200},
    },
    # The last body of each public URL, served (marked stale) for up to a day while the database
    # is down: a store every process shares, `CACHE_URL` (e.g. redis://…) or a file cache on the host.
    "public-stale": env.cache_url(
        "CACHE_URL", default=f"filecache://{Path(tempfile.gettempdir()) / 'crashbot-public-stale'}"
    ),
}
CACHES["public-stale"].setdefault("TIMEOUT", 86400)
if env.str("CACHE_URL", default=""):
    # Rendered public bodies shared by every process and node: a change is rendered about once in all,
    # then each process keeps its own copy in "public" (incidents/caching.py).
    CACHES["public-shared"] = {**env.cache_url("CACHE_URL"), "TIMEOUT": 600}

# Crashbot's own settings.
INCIDENT_PREFIX = env.str("INCIDENT_PREFIX", default="DCL")
LIST_API_KEY = env.str("LIST_API_KEY", default="")
# Seconds a web process reuses the public version stamp (ETags) before asking the database again.
PUBLIC_STAMP_TTL = env.float("PUBLIC_STAMP_TTL", default=1.0)
LIST_CLOSED_DAYS = env.int("LIST_CLOSED_DAYS", default=365)
LIST_CLOSED_LIMIT = env.int("LIST_CLOSED_LIMIT", default=500)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
STATUS_PAGE_NAME = env.str("STATUS_PAGE_NAME", default="Decentraland")
# How often the status page re-fetches itself (conditional request; 30–60 s is kind to the server).
STATUS_PAGE_REFRESH_SECONDS = env.int("STATUS_PAGE_REFRESH_SECONDS", default=30)
# Scheduled maintenance (docs/MAINTENANCE.md): the reminder in its Slack thread, this long before it starts.
MAINTENANCE_REMINDER_MINUTES = env.int("MAINTENANCE_REMINDER_MINUTES", default=60)

# Subscriptions (SPEC §7, docs/SUBSCRIPTIONS.md). Mail goes through Django's SMTP backend configured
# by EMAIL_URL (smtp://host:25, smtp+tls://user:pass@host:587, …); console backend by default with DEBUG.
if "EMAIL_URL" in env:
    globals().update(env.email_url("EMAIL_URL"))
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="status@localhost")
# Allows http:// and loopback/private/link-local webhook and Slack URLs (tests, private networks only).
SUBSCRIPTIONS_ALLOW_PRIVATE_URLS = env.bool("SUBSCRIPTIONS_ALLOW_PRIVATE_URLS", default=False)
# Sign-ups (and so confirmation mails) per address and per client per hour.
SUBSCRIPTIONS_RATE_LIMIT = env.int("SUBSCRIPTIONS_RATE_LIMIT", default=5)
SUBSCRIPTIONS_BATCH_SIZE = env.int("SUBSCRIPTIONS_BATCH_SIZE", default=100)
SUBSCRIPTIONS_WEBHOOK_TIMEOUT = env.float("SUBSCRIPTIONS_WEBHOOK_TIMEOUT", default=10.0)
SUBSCRIPTIONS_RETRY_BASE_SECONDS = env.float("SUBSCRIPTIONS_RETRY_BASE_SECONDS", default=30.0)
SUBSCRIPTIONS_RETRY_MAX_SECONDS = env.float("SUBSCRIPTIONS_RETRY_MAX_SECONDS", default=3600.0)
SUBSCRIPTIONS_GIVE_UP_HOURS = env.float("SUBSCRIPTIONS_GIVE_UP_HOURS", default=24.0)
SUBSCRIPTIONS_DISABLE_AFTER_FAILURES = env.int("SUBSCRIPTIONS_DISABLE_AFTER_FAILURES", default=20)
SUBSCRIPTIONS_COMPONENT_QUIET_MINUTES = env.int("SUBSCRIPTIONS_COMPONENT_QUIET_MINUTES", default=10)
# Events older than this when the worker first sees them are not sent (a worker down for days, old history).
SUBSCRIPTIONS_EVENT_MAX_AGE_HOURS = env.float("SUBSCRIPTIONS_EVENT_MAX_AGE_HOURS", default=24.0)

SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_APP_TOKEN = env.str("SLACK_APP_TOKEN", default="")
SLACK_INCIDENTS_CHANNEL = env.str("SLACK_INCIDENTS_CHANNEL", default="")
SLACK_ALLOWED_TEAM_IDS = [t.strip() for t in env.list("SLACK_ALLOWED_TEAM_IDS", default=[]) if t.strip()]
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
SLACK_CREATE_COMMAND = env.str("SLACK_CREATE_COMMAND", default="/create-incident")
SLACK_UPDATE_COMMAND = env.str("SLACK_UPDATE_COMMAND", default="/update-incident")
SLACK_LIST_COMMAND = env.str("SLACK_LIST_COMMAND", default="/incidents")
SLACK_MAINTENANCE_COMMAND = env.str("SLACK_MAINTENANCE_COMMAND", default="/maintenance")
# Outbound sync (worker only; see docs/SLACK_SYNC.md).
SLACK_WORKER_TIMEOUT = env.float("SLACK_WORKER_TIMEOUT", default=10.0)
SLACK_RETRY_ATTEMPTS = env.int("SLACK_RETRY_ATTEMPTS", default=3)
SLACK_RETRY_BACKOFF = env.float("SLACK_RETRY_BACKOFF", default=1.0)
SLACK_RETRY_MAX_WAIT = env.float("SLACK_RETRY_MAX_WAIT", default=30.0)
SLACK_SYNC_BACKOFF = env.float("SLACK_SYNC_BACKOFF", default=10.0)
SLACK_SYNC_BACKOFF_MAX = env.float("SLACK_SYNC_BACKOFF_MAX", default=300.0)
SLACK_NAME_MAX_AGE_HOURS = env.float("SLACK_NAME_MAX_AGE_HOURS", default=24.0)
# How long a worker's claim on an incident outlives the worker if it dies mid-sync (docs/RELIABILITY.md).
SLACK_SYNC_LEASE_SECONDS = env.int("SLACK_SYNC_LEASE_SECONDS", default=120)
# Responders kept on track (SPEC §9, docs/SLACK.md): reminders in the thread and a channel per incident.
# Checked at start-up (slackbridge.reminders.check_settings): a bad value stops the server with the reason.
REMINDER_UPDATE_MINUTES = env.str("REMINDER_UPDATE_MINUTES", default="sev-1:30,sev-2:60,sev-3:240")
REMINDER_UNASSIGNED_MINUTES = env.int("REMINDER_UNASSIGNED_MINUTES", default=15)
RCA_DUE_DAYS = env.int("RCA_DUE_DAYS", default=5)
CHANNEL_ARCHIVE_DAYS = env.int("CHANNEL_ARCHIVE_DAYS", default=7)

# Operators (SPEC §11, docs/SCALING.md): /metrics behind a bearer token (404 while unset); LOG_FORMAT=json
# logs one JSON object a line with the request id and the incident key where known.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
# Monitoring probes and alert intake (SPEC §10; docs/MONITORING.md, docs/ALERTS.md).
PROBES_ALLOW_PRIVATE_URLS = env.bool("PROBES_ALLOW_PRIVATE_URLS", default=False)
PROBE_CONCURRENCY = env.int("PROBE_CONCURRENCY", default=32)
PROBE_BATCH_MAX = env.int("PROBE_BATCH_MAX", default=1000)
PROBE_RESULTS_DAYS = env.int("PROBE_RESULTS_DAYS", default=7)
PROBE_UPTIME_KEEP_DAYS = env.int("PROBE_UPTIME_KEEP_DAYS", default=400)
PROBE_AUTO_INCIDENT = env.bool("PROBE_AUTO_INCIDENT", default=False)
ALERT_INTAKE_TOKEN = env.str("ALERT_INTAKE_TOKEN", default="")
ALERT_SEVERITY_MAP = env.str("ALERT_SEVERITY_MAP", default="critical:sev-2,warning:sev-3")
ALERT_AUTO_RESOLVE = env.bool("ALERT_AUTO_RESOLVE", default=False)
ALERT_INCIDENT_VISIBILITY = env.str("ALERT_INCIDENT_VISIBILITY", default="internal")
ALERT_MAX_BODY_BYTES = env.int("ALERT_MAX_BODY_BYTES", default=1024 * 1024)

# Staff sign-in (README "Staff"). Failed logins are throttled per username and per client
# address: after AXES_FAILURE_LIMIT failures either is refused for AXES_COOLOFF_MINUTES.
# IPs/CIDRs of the proxies allowed to set X-Forwarded-For (login throttling, per-client sign-up limits).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "crashbot.auth.client_ip"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_VERBOSE = False
# Sign in with Slack for staff (OpenID Connect, README "Sign in with Slack", slackbridge/oidc.py): on only
# when both the client id and secret of the Slack app are set; otherwise no /oidc/ URLs, backend or button.
SLACK_OIDC_CLIENT_ID = env.str("SLACK_OIDC_CLIENT_ID", default="")
SLACK_OIDC_CLIENT_SECRET = env.str("SLACK_OIDC_CLIENT_SECRET", default="")
# Only this workspace's members may sign in (T…); also what allows linking a staff account by verified email.
SLACK_OIDC_TEAM_ID = env.str("SLACK_OIDC_TEAM_ID", default="")
# Slack's endpoints (https://slack.com/.well-known/openid-configuration); tests point them at a fake Slack.
SLACK_OIDC_AUTHORIZE_URL = env.str("SLACK_OIDC_AUTHORIZE_URL", default="https://slack.com/openid/connect/authorize")
SLACK_OIDC_TOKEN_URL = env.str("SLACK_OIDC_TOKEN_URL", default="https://slack.com/api/openid.connect.token")
SLACK_OIDC_USERINFO_URL = env.str("SLACK_OIDC_USERINFO_URL", default="https://slack.com/api/openid.connect.userInfo")
SLACK_OIDC_JWKS_URL = env.str("SLACK_OIDC_JWKS_URL", default="https://slack.com/openid/connect/keys")
SLACK_OIDC_ISSUER = env.str("SLACK_OIDC_ISSUER", default="https://slack.com")
if SLACK_OIDC_CLIENT_ID and SLACK_OIDC_CLIENT_SECRET:
    AUTHENTICATION_BACKENDS.append("slackbridge.oidc.SlackOIDCBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "crashbot.observability.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "crashbot.observability.JsonLogFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
