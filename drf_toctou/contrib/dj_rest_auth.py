"""dj-rest-auth with drf-toctou::

    REST_AUTH = {
        "USE_JWT": True,
        "JWT_TOKEN_CLAIMS_SERIALIZER": "drf_toctou.contrib.dj_rest_auth.TokenClaimsSerializer",
    }
    SIMPLE_JWT = {..., "TOKEN_VERIFY_SERIALIZER": "drf_toctou.serializers.TokenVerifySerializer"}

    urlpatterns = [
        # before dj_rest_auth.urls, whose refresh view skips the token-state store
        path("auth/token/refresh/", TokenRefreshView.as_view()),
        path("auth/", include("dj_rest_auth.urls")),
    ]

``LoginView`` then issues versioned tokens that open a session, the refresh
view (cookies included) refuses revoked tokens and rotates without races, and
``PasswordChangeView`` revokes the old tokens like any password change. Log
out with ``drf_toctou.urls``' ``logout/`` (dj-rest-auth's own logout only
blacklists the refresh token in simplejwt's tables, when that app is installed).
"""

from __future__ import annotations

from typing import Any

from dj_rest_auth.jwt_auth import get_refresh_view
from rest_framework import serializers

from drf_toctou import serializers as ours
from drf_toctou.sessions import open_session


class TokenClaimsSerializer(ours.TokenObtainPairSerializer):
    """What dj-rest-auth's ``jwt_encode`` asks for a login's tokens: versioned,
    and opening a session (without the client's description: dj-rest-auth
    does not pass the request)."""

    @classmethod
    def get_token(cls, user: Any) -> Any:
        refresh = super().get_token(user)
        open_session(refresh, None)
        return refresh


class CookieTokenRefreshSerializer(ours.TokenRefreshSerializer):
    """drf-toctou's refresh, taking the refresh token from the body or from
    dj-rest-auth's refresh cookie."""

    refresh = serializers.CharField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        from dj_rest_auth.app_settings import api_settings
        from rest_framework_simplejwt.exceptions import InvalidToken

        request = self.context["request"]
        token = request.data.get("refresh") if isinstance(request.data, dict) else None
        if not token and api_settings.JWT_AUTH_REFRESH_COOKIE:
            token = request.COOKIES.get(api_settings.JWT_AUTH_REFRESH_COOKIE)
        if not token:
            raise InvalidToken("No valid refresh token found.")
        return super().validate({**attrs, "refresh": token})


class TokenRefreshView(get_refresh_view()):  # type: ignore[misc]
    """dj-rest-auth's refresh view (its cookies) with drf-toctou's refresh."""

    serializer_class = CookieTokenRefreshSerializer
