"""Minimal Django settings for the reference chat server (bench only).

Environment: REDIS_URL (channel layer), DATABASE_URL (only used when
REFERENCE_PERSIST=1, which saves each message to PostgreSQL), SECRET_KEY.
"""

import os
from urllib.parse import urlparse

SECRET_KEY = os.environ.get("SECRET_KEY", "reference-insecure-bench-key")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
INSTALLED_APPS = ["channels", "bench.reference"]
ROOT_URLCONF = "bench.reference.urls"
ASGI_APPLICATION = "bench.reference.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REFERENCE_PERSIST = os.environ.get("REFERENCE_PERSIST", "0") == "1"

_db = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_ref"))
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": str(_db.port or 5432),
        "CONN_MAX_AGE": 60,  # persistent connections, as any production setup
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")]},
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
