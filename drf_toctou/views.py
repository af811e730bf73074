"""Token endpoints: obtain a versioned pair, refresh (refusing revoked or stale
refresh tokens), logout (this access token and, optionally, a refresh token)
and logout-all (bump the user's version)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from drf_toctou.authentication import MALFORMED, BearerRevalidatingAuthentication
from drf_toctou.exceptions import BadRequest, NotOwner
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.settings import jwt_settings
from drf_toctou.state import check_token, token_identity
from drf_toctou.tokens import VersionedRefreshToken


def parse_refresh_token(raw: Any) -> VersionedRefreshToken:
    """A verified refresh token that is still good, or 401 (or 503)."""
    if not isinstance(raw, str) or not raw:
        raise BadRequest(_("Field 'refresh' must be a non-empty string."))
    try:
        token = VersionedRefreshToken(raw)  # type: ignore[arg-type]  # simplejwt annotates it as a Token
    except TokenError as e:
        raise InvalidToken(e.args[0]) from e
    except MALFORMED as e:
        raise InvalidToken(str(_("Token is malformed."))) from e
    check_token(token)
    return token


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    token_class = VersionedRefreshToken


class TokenRefreshSerializer(serializers.Serializer):
    """Refresh like simplejwt, but a revoked or stale refresh token is refused,
    and with ``ROTATE_REFRESH_TOKENS`` the rotated-out token is revoked."""

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        refresh = parse_refresh_token(attrs["refresh"])
        self.check_user(refresh)
        data = {"access": str(refresh.access_token)}
        if jwt_settings().ROTATE_REFRESH_TOKENS:
            revoke_token(refresh)
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            data["refresh"] = str(refresh)
        return data

    def check_user(self, refresh: VersionedRefreshToken) -> None:
        user_model, jwt = get_user_model(), jwt_settings()
        lookup = {jwt.USER_ID_FIELD: refresh[jwt.USER_ID_CLAIM]}
        try:
            user = user_model._default_manager.get(**lookup)
        except user_model.DoesNotExist as e:
            raise AuthenticationFailed(str(_("User not found")), code="user_not_found") from e
        except MALFORMED as e:
            raise InvalidToken(str(_("Token contained no recognizable user identification"))) from e
        if not jwt.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(str(_("No active account found for the given token.")), code="no_active_account")


# Every view here declares this scope: enable DRF's ScopedRateThrottle and set
# DEFAULT_THROTTLE_RATES["drf_toctou_auth"] to rate-limit them.
THROTTLE_SCOPE = "drf_toctou_auth"


class TokenObtainPairView(jwt_views.TokenObtainPairView):
    serializer_class = TokenObtainPairSerializer
    throttle_scope = THROTTLE_SCOPE


class TokenRefreshView(jwt_views.TokenRefreshView):
    serializer_class = TokenRefreshSerializer
    throttle_scope = THROTTLE_SCOPE


class LogoutView(APIView):
    """Revoke the access token of this request, and the refresh token in the
    body (``{"refresh": "..."}``, optional) — which must be the caller's."""

    authentication_classes = [BearerRevalidatingAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = THROTTLE_SCOPE

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise BadRequest(_("The body must be a JSON object."))
        refresh = None
        if body.get("refresh") is not None:
            refresh = parse_refresh_token(body["refresh"])
            if token_identity(refresh).user_id != token_identity(request.auth).user_id:
                raise NotOwner(_("This refresh token belongs to another user."))
        access: Any = request.auth  # a simplejwt token (the stubs say authtoken's)
        revoke_token(access)
        if refresh is not None:
            revoke_token(refresh)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Bump the caller's version: every token issued to them so far is dead."""

    authentication_classes = [BearerRevalidatingAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = THROTTLE_SCOPE

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        revoke_user_tokens(token_identity(request.auth).user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
