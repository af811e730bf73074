import os
import tempfile
from datetime import timedelta
from pathlib import Path

SECRET_KEY = "drf-toctou-tests-only-not-secret-0123456789abcdef-0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    # simplejwt's blacklist, as teams moving to drf-toctou have it (toctou_import_blacklist).
    "rest_framework_simplejwt.token_blacklist",
    "drf_toctou",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages"]}}]

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
    DATABASES["pg_replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

# A database whose server is down (nothing listens on port 9): the DatabaseStore
# fail-closed test points the store at it.
DATABASES["unreachable"] = {
    "ENGINE": "django.db.backends.postgresql", "HOST": "127.0.0.1", "PORT": "9", "NAME": "unreachable",
    "USER": "nobody", "OPTIONS": {"connect_timeout": 1},
}

# SQLite files, so that the ORM fence is proven on every machine (tests/test_fence.py):
# "filedb" is a primary, "filedb_replica" a replica of it that a router reads from.
_FILES = Path(tempfile.gettempdir()) / f"toctou-tests-{os.getpid()}"
_FILES.mkdir(exist_ok=True)
DATABASES["filedb"] = {
    "ENGINE": "django.db.backends.sqlite3", "NAME": str(_FILES / "filedb.sqlite3"), "OPTIONS": {"timeout": 20},
    "TEST": {"NAME": str(_FILES / "test_filedb.sqlite3")},
}
DATABASES["filedb_replica"] = {**DATABASES["filedb"], "TEST": {"MIRROR": "filedb"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["drf_toctou.authentication.BearerRevalidatingAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

SIMPLE_JWT = {
    "SIGNING_KEY": SECRET_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "AUTH_TOKEN_CLASSES": ("drf_toctou.tokens.VersionedAccessToken",),
}

DRF_TOCTOU = {"STORE": "drf_toctou.stores.database.DatabaseStore"}

# dj-rest-auth is importable here (drf_toctou.contrib.dj_rest_auth); its own project is tests/projects/dj_rest_auth_jwt.
REST_AUTH = {"USE_JWT": True, "TOKEN_MODEL": None}
