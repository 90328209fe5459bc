"""Settings for the chat server. Environment variables are documented in README.md."""

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chatproject.env import (
    BASE_DIR,
    VAR_DIR,
    development_secret_key,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
    shared_secret_key,
)
from chatproject.wire import TIME_FORMAT as WIRE_TIME_FORMAT

DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and env_str("SECRET_KEY_FILE"):
    SECRET_KEY = shared_secret_key(Path(env_str("SECRET_KEY_FILE")))
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = development_secret_key()
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY is too weak for DEBUG off: use 50+ random characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us: /api/docs/ works without the internet
    "django_prometheus",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "corsheaders",
    "axes",
    "accounts",
    "rooms",
    "messaging",
    "notifications",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "chatproject.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.web_device_touch",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "chatproject.urls"
ASGI_APPLICATION = "chatproject.asgi.application"
WSGI_APPLICATION = None

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

# --- Database -----------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # A pool instead of CONN_MAX_AGE: under ASGI, persistent connections are tied to
        # threads, a pool is shared by all of them.
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", 24),
            "timeout": 10,
        }
        # The pool checks a connection when lending it out: one that died with the database
        # (a restart, a failover) is replaced instead of failing the first request after.
        _db["CONN_HEALTH_CHECKS"] = True
    DATABASES = {"default": _db}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # WAL lets readers go on while a message is written; the timeout lets
            # concurrent writers queue instead of failing with "database is locked".
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# Threads that run WebSocket-originated database work in each process (see chatproject/db.py).
DB_THREADS = env_int("DB_THREADS", 8)
# WebSocket sends that arrive together share a transaction (messaging/batching.py): at most
# this many such batches run at once per process, each of at most SEND_BATCH_MAX sends.
SEND_BATCHES_IN_FLIGHT = env_int("SEND_BATCHES_IN_FLIGHT", 2)
SEND_BATCH_MAX = env_int("SEND_BATCH_MAX", 100)
# The garbage collector's first threshold in a server process (chatproject/gctune.py); 0: Python's 700.
GC_GEN0_THRESHOLD = env_int("GC_GEN0_THRESHOLD", 20000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis: real-time events, presence, cache, channel layer ---------------------------
# Events reach sockets through the project's channel layer (chatproject/layers.py), each
# process's hub over per-room Redis pub/sub channels; readyz checks its subscriber.
REDIS_URL = env_str("REDIS_URL")
CACHE_PREFIX = env_str("CACHE_PREFIX", "chat")
PRESENCE_PREFIX = f"{CACHE_PREFIX}:presence"
# The hub's pub/sub (chatproject/realtime.py) may live on its own Redis or on a Redis
# Cluster (sharded pub/sub: REDIS_CLUSTER=1, or a redis+cluster:// URL); cache and
# presence stay on REDIS_URL.
REALTIME_REDIS_URL = env_str("REALTIME_REDIS_URL", REDIS_URL)
REDIS_CLUSTER = env_bool("REDIS_CLUSTER", False) or REALTIME_REDIS_URL.startswith("redis+cluster://")
if REALTIME_REDIS_URL.startswith("redis+cluster://"):
    REALTIME_REDIS_URL = "redis://" + REALTIME_REDIS_URL.removeprefix("redis+cluster://")
# Redis pub/sub ignores database numbers: servers sharing a Redis but not a database
# number (or prefix) must not hear each other's events. Group channels are
# `<prefix>g.<group>`, e.g. `chat:0:g.room.42`.
REALTIME_CHANNEL_PREFIX = f"{CACHE_PREFIX}:{urlsplit(REDIS_URL).path.strip('/') or '0'}:"
# How long a socket's hello waits for Redis to confirm its rooms' subscriptions.
REALTIME_SUBSCRIBE_TIMEOUT = 5
# The project's channel layer: Channels' API over the process's hub (embedded without Redis).
CHANNEL_LAYERS = {"default": {"BACKEND": "chatproject.layers.HubChannelLayer"}}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Task queue (chatproject/tasks.py) ---------------------------------------------------
# django-tasks with its database backend: the queue is a table, no broker. A worker runs
# `manage.py db_worker`; without Redis it runs as a thread of the server process instead.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
TASK_WORKER_IN_SERVER = env_bool("TASK_WORKER_IN_SERVER", not REDIS_URL)
# Images: no thumbnail for more pixels than this (decompression bombs); thumbnails' longer side.
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 40_000_000)
THUMBNAIL_SIZE = env_int("THUMBNAIL_SIZE", 400)
# Rooms with more members than this get their message notifications made by the worker.
NOTIFY_ON_QUEUE_MIN_MEMBERS = env_int("NOTIFY_ON_QUEUE_MIN_MEMBERS", 100)

# --- Passwords -------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "accounts.hashers.TunableArgon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
ARGON2_TIME_COST = env_int("ARGON2_TIME_COST", 2)
ARGON2_MEMORY_KIB = env_int("ARGON2_MEMORY_KIB", 102_400)
ARGON2_PARALLELISM = env_int("ARGON2_PARALLELISM", 8)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Security --------------------------------------------------------------------------
# HTTPS defaults to on outside DEBUG; turn it off only behind something that is not a
# browser (benchmarks on loopback).
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# With a token set, /metrics answers only to `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env_str("METRICS_TOKEN")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp 4 format): scripts and styles only from our own
# static files, nothing inline, no eval. 'self' in connect-src covers the same-origin
# WebSocket (ws:/wss:) in CSP Level 3 browsers. The Swagger UI page adds what it needs
# for itself only (chatproject/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "media-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# CORS for the REST API: off unless origins are listed. Mobile apps need none; a web
# client served from another origin is listed here. Cookies are not sent cross-origin
# (Bearer tokens only), so the session and its CSRF token stay same-origin.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/v1/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 3600

# --- Static and uploaded files ---------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# In production static files come from `collectstatic` output only: hashed names, gzip and
# brotli copies, cached for ever by browsers and served by WhiteNoise or the proxy. In
# development they are read from the source tree, so no collectstatic is needed.
STATIC_FROM_SOURCE = env_bool("STATIC_FROM_SOURCE", DEBUG)
WHITENOISE_USE_FINDERS = STATIC_FROM_SOURCE
WHITENOISE_ROOT = BASE_DIR / "static" / "root"  # /favicon.ico
STORAGES = {
    # Attachments: under VAR_DIR, never inside the static or template folders, and never
    # routed (MEDIA_URL has no URL pattern): they are served by access-checked views.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": VAR_DIR / "media"}},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if STATIC_FROM_SOURCE
        else "chatproject.staticfiles.ManifestStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"

# --- Attachments -------------------------------------------------------------------------
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
ATTACHMENT_QUOTA_BYTES = env_int("ATTACHMENT_QUOTA_BYTES", 1024 * 1024 * 1024)
ATTACHMENT_ORPHAN_HOURS = env_int("ATTACHMENT_ORPHAN_HOURS", 24)
# Files of deleted messages and removed attachments stay this long (unreachable) before
# clean-up deletes them: downloads in flight finish, and a mistaken removal can be undone.
ATTACHMENT_DELETE_GRACE_HOURS = env_int("ATTACHMENT_DELETE_GRACE_HOURS", 24)
# Behind nginx: answer `X-Accel-Redirect: <prefix><storage name>` and let nginx send the bytes.
ATTACHMENT_X_ACCEL_PREFIX = env_str("ATTACHMENT_X_ACCEL_PREFIX")
# Uploads above this size go to a temporary file while they arrive; below it they are held
# in memory. The temporary file sits beside the stored files when that folder is writable
# (the same disk: storing it is a rename, and not a RAM-backed /tmp); else the system's.
FILE_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
try:
    FILE_UPLOAD_TEMP_DIR = MEDIA_ROOT / ".upload-tmp"
    FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only file system with media on S3
    FILE_UPLOAD_TEMP_DIR = None
FILE_UPLOAD_PERMISSIONS = 0o640

S3_BUCKET = env_str("S3_BUCKET")
if S3_BUCKET:
    # Any S3-compatible store (AWS, MinIO, Ceph, R2…) through django-storages; downloads
    # are redirects to short-lived presigned URLs, so the bucket stays private.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "addressing_style": env_str("S3_ADDRESSING_STYLE") or None,
            "querystring_expire": env_int("S3_PRESIGN_SECONDS", 300),
            "default_acl": None,
            "file_overwrite": False,
            "signature_version": "s3v4",
        },
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- REST API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.DeviceJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON everywhere (docs/protocol.md); the upload view reads multipart itself. A form body
    # carries no types (every value a string), so it would accept what the schema refuses.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "chatproject.schema.ChatAutoSchema",
    "EXCEPTION_HANDLER": "chatproject.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    "DATETIME_FORMAT": WIRE_TIME_FORMAT,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Chat server API",
    "DESCRIPTION": "REST API of the chat server. The WebSocket protocol is in docs/protocol.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoomKindEnum": "rooms.models.Room.Kind",
        "NewRoomKindEnum": [("public", "public"), ("private", "private")],
        "MemberRoleEnum": "rooms.models.Membership.Role",
        "MessageStatusEnum": [("sent", "sent"), ("delivered", "delivered"), ("read", "read")],
        "NotificationKindEnum": "notifications.models.Notification.Kind",
    },
}

# --- Rate limits -----------------------------------------------------------------------
# Benchmarks create thousands of users from one address; production never sets this.
THROTTLE_DISABLED = env_bool("THROTTLE_DISABLED", False)
# Proxies whose X-Forwarded-For is believed (chatproject/clientaddr.py); nobody else's is.
TRUSTED_PROXIES = [ipaddress.ip_network(cidr, strict=False) for cidr in env_list("TRUSTED_PROXIES", [])]
# Sliding windows per scope, "COUNT/SECONDS" or "off" (chatproject/ratelimits.py).
RATE_LIMITS = {
    scope: env_rate(f"RATE_LIMIT_{scope.upper()}", default)
    for scope, default in {
        "send": "30/10",  # per user, REST and WebSocket together: a burst of 20 passes
        "register": "20/3600",  # per client address
        "room_create": "10/60",  # per user
        "dm_create": "20/60",  # per user, only when a new conversation is created
        "search": "30/10",  # per user
        "upload": "30/60",  # per user
        # Per connection: typing, read, delivered, sync, presence, ping. Roomy: on reconnect a
        # client sends a `delivered` or `sync` for each room with news.
        "ws_frame": "200/10",
    }.items()
}
WS_MAX_CONNECTIONS_PER_USER = env_int("WS_MAX_CONNECTIONS_PER_USER", 20)
# A socket's entry in the per-user count expires this long after its process last renewed it.
WS_CONNECTION_TTL_SECONDS = env_int("WS_CONNECTION_TTL_SECONDS", 60)

# Failed logins (django-axes): only failures count, per username and per client address,
# by every door (REST token, web form, admin login), through accounts.services.user_login.
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 10)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 30)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 300)
AXES_ENABLED = not THROTTLE_DISABLED
AXES_HANDLER = "accounts.lockout.LoginLockoutHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Only in axes' log lines: the handler compares each parameter's count with its own limit above.
AXES_FAILURE_LIMIT = max(LOGIN_FAILURES_PER_USERNAME, LOGIN_FAILURES_PER_ADDRESS)
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
# Attempts refused during a lock-out are not failures: the lock ends on time.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "chatproject.clientaddr.client_address"
AXES_USERNAME_CALLABLE = "accounts.lockout.login_username"
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows to show
AXES_VERBOSE = False
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password is checked.
    "accounts.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# axes.W002: no AxesMiddleware on purpose: each door answers a lock-out itself (REST 429 +
# Retry-After, a message on the web and admin forms) from the service's Throttled.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

# --- Signed-in devices ---------------------------------------------------------------
# last_used_at moves at most this often per device and process (a dict lookup otherwise).
DEVICE_TOUCH_SECONDS = env_int("DEVICE_TOUCH_SECONDS", 60)

# --- Chat ------------------------------------------------------------------------------
MESSAGE_MAX_LENGTH = env_int("MESSAGE_MAX_LENGTH", 10_000)
WS_MAX_FRAME_BYTES = 64 * 1024
WS_AUTH_TIMEOUT_SECONDS = env_int("WS_AUTH_TIMEOUT_SECONDS", 10)
# A connection's presence entry lives this long unless its process's heartbeat renews it,
# so users of a process that died go offline within PRESENCE_TTL + PRESENCE_SWEEP seconds.
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 60)
PRESENCE_HEARTBEAT_SECONDS = env_int("PRESENCE_HEARTBEAT_SECONDS", 20)
PRESENCE_SWEEP_SECONDS = env_int("PRESENCE_SWEEP_SECONDS", 15)
# Receivers drop a `typing: start` not renewed within this time; clients renew every few seconds.
TYPING_EXPIRY_SECONDS = 6
TYPING_MIN_INTERVAL_SECONDS = 2
# Read/delivered frames from one connection are coalesced over this window into one move.
MARKER_COALESCE_SECONDS = 0.25
# Bytes that may wait to be written to one socket before it is closed with 4008 (contract).
WS_SEND_BUFFER_BYTES = env_int("WS_SEND_BUFFER_BYTES", 1024 * 1024)
# How long a socket closed with 4008 is kept so a client that reads again sees the code.
WS_SLOW_CLOSE_SECONDS = 10
# On SIGTERM, sockets finish their frame and close with 1012 within this time (chatproject/shutdown.py).
SHUTDOWN_GRACE_SECONDS = env_float("SHUTDOWN_GRACE_SECONDS", 10.0)

# --- Logging ---------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "chatproject.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"context": {"()": "chatproject.logging.ContextFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Frame-level debug logs would carry `auth` frames (tokens): never below INFO.
        "websockets": {"level": "INFO"},
        # uvicorn's own lines in the same format (it configures its loggers before Django).
        "uvicorn": {"handlers": ["console"], "propagate": False},
        "uvicorn.error": {"handlers": [], "propagate": True},
    },
}

# --- Error reporting -------------------------------------------------------------------
# Sentry, or any Sentry-compatible service (GlitchTip, ...). No DSN, no reporting.
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        send_default_pii=False,  # no cookies, no Authorization headers, no user e-mails
    )
