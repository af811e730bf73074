"""A project that keeps simplejwt's own token views and plugs drf-toctou's
serializers into them through SIMPLE_JWT."""

from tests.settings import *  # noqa: F403
from tests.settings import SIMPLE_JWT

ROOT_URLCONF = "tests.projects.simplejwt_views.urls"
SIMPLE_JWT = {
    **SIMPLE_JWT,
    "ROTATE_REFRESH_TOKENS": True,
    "TOKEN_OBTAIN_SERIALIZER": "drf_toctou.serializers.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "drf_toctou.serializers.TokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "drf_toctou.serializers.TokenVerifySerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "drf_toctou.serializers.TokenBlacklistSerializer",
}
