"""Settings of the sample API — what a careful team would ship.

Environment variables switch the embedded defaults to real services:
``TOCTOU_STORE=database|redis|dynamodb``, ``REDIS_URL``, ``DYNAMODB_ENDPOINT_URL``
(e.g. DynamoDB Local; unset: moto's server in-process), ``DATABASE_URL``
(PostgreSQL; unset: SQLite at ``SAMPLE_API_DB`` or ``sample_api/db.sqlite3``).
"""

import os
from datetime import timedelta
from pathlib import Path

from sample_api import embedded

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "sample-api-not-secret-change-me-0123456789abcdef0123456789")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
ROOT_URLCONF = "sample_api.urls"
WSGI_APPLICATION = "sample_api.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "rest_framework",
    # simplejwt's blacklist: only its own token views (the naive refresh twin)
    # use it; drf-toctou keeps token state in its store (toctou_import_blacklist
    # moves the blacklist there).
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_toctou",
    "sample_api.api",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {}}]

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": os.environ.get("SAMPLE_API_DB", str(BASE_DIR / "db.sqlite3")),
                             "OPTIONS": {"timeout": 20}}}

# --- DynamoDB: a real endpoint, or moto's server embedded on a free port -------
DYNAMODB_ENDPOINT_URL = os.environ.get("DYNAMODB_ENDPOINT_URL", "")
SAMPLE_API_EMBEDDED_MOTO_PORT = None
if not DYNAMODB_ENDPOINT_URL:
    SAMPLE_API_EMBEDDED_MOTO_PORT = int(os.environ.get("SAMPLE_API_MOTO_PORT") or embedded.free_port())
    DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{SAMPLE_API_EMBEDDED_MOTO_PORT}"
    embedded.use_fake_aws_credentials()
DYNAMODB_REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
SAMPLE_API_DOCUMENTS_TABLE = os.environ.get("SAMPLE_API_DOCUMENTS_TABLE", "sample_documents")

_STORES = {
    "database": ("drf_toctou.stores.database.DatabaseStore", {}),
    "redis": ("drf_toctou.stores.redis.RedisStore", {"url": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}),
    "dynamodb": ("drf_toctou.stores.dynamodb.DynamoDBStore",
                 {"table_name": "sample_token_state", "endpoint_url": DYNAMODB_ENDPOINT_URL,
                  "region_name": DYNAMODB_REGION}),
}
_store, _options = _STORES[os.environ.get("TOCTOU_STORE", "database")]

DRF_TOCTOU = {
    "STORE": _store,
    "STORE_OPTIONS": _options,
    "STORE_TIMEOUT": float(os.environ.get("TOCTOU_STORE_TIMEOUT", "0.25")),
    "DYNAMODB_DATA_OPTIONS": {"endpoint_url": DYNAMODB_ENDPOINT_URL, "region_name": DYNAMODB_REGION},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["drf_toctou.authentication.BearerRevalidatingAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "drf_toctou.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_toctou.contrib.spectacular.ToctouAutoSchema",
    # drf_toctou's token views declare throttle_scope = "drf_toctou_auth".
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"drf_toctou_auth": os.environ.get("SAMPLE_API_AUTH_RATE", "20/minute")},
}

SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "ROTATE_REFRESH_TOKENS": True,
    # For simplejwt's own TokenRefreshView (the naive twin): blacklist a refresh
    # token once rotated. drf-toctou's refresh consumes it in the store instead.
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_TOKEN_CLASSES": ("drf_toctou.tokens.VersionedAccessToken",),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "drf-toctou sample API",
    "DESCRIPTION": "Protected endpoints next to deliberately vulnerable naive twins.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# The naive endpoints are deliberately vulnerable: they exist only in this
# sample project, and their module refuses to load unless this is True.
SAMPLE_API_VULNERABLE_ENDPOINTS = True
