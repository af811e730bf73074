"""Settings of the benchmark project: one set of endpoints per configuration."""

import json
import os
from datetime import timedelta

SECRET_KEY = "bench-only-not-secret-0123456789abcdef0123456789abcdef0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "knox",
    "drf_toctou",
    "tests.testapp",
]
MIDDLEWARE: list = []
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": os.environ.get("BENCH_DB", "/tmp/drf-toctou-bench.sqlite3")}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["drf_toctou.authentication.BearerRevalidatingAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
}
SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "AUTH_TOKEN_CLASSES": ("drf_toctou.tokens.VersionedAccessToken",),
    # The session rows (bench/sessions.py) refresh with rotation; simplejwt's
    # own refresh also blacklists the rotated-out token. Set here, not
    # overridden later: simplejwt's serializers bind its settings at import.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
REST_KNOX = {"AUTO_REFRESH": False}
# The store of the run (bench/harness.py and bench/e2e.py set these to the
# benchmark's own servers): BENCH_STORE a dotted path, BENCH_STORE_OPTIONS JSON.
DRF_TOCTOU = {
    "STORE": os.environ.get("BENCH_STORE", "drf_toctou.stores.redis.RedisStore"),
    "STORE_OPTIONS": json.loads(os.environ["BENCH_STORE_OPTIONS"]) if os.environ.get("BENCH_STORE_OPTIONS")
    else {"url": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")},
}
