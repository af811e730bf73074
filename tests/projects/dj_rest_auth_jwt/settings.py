"""A project using dj-rest-auth's JWT login, with drf-toctou plugged in."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS, SIMPLE_JWT

INSTALLED_APPS = [*INSTALLED_APPS, "dj_rest_auth"]
ROOT_URLCONF = "tests.projects.dj_rest_auth_jwt.urls"
REST_AUTH = {
    "USE_JWT": True,
    "TOKEN_MODEL": None,
    "SESSION_LOGIN": False,
    "JWT_AUTH_HTTPONLY": False,
    "JWT_TOKEN_CLAIMS_SERIALIZER": "drf_toctou.contrib.dj_rest_auth.TokenClaimsSerializer",
}
SIMPLE_JWT = {
    **SIMPLE_JWT,
    "ROTATE_REFRESH_TOKENS": True,
    "TOKEN_VERIFY_SERIALIZER": "drf_toctou.serializers.TokenVerifySerializer",
}
