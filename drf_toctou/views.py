"""Token and session endpoints (``drf_toctou.urls``): obtain a versioned pair
(opening a session), refresh (one winner per rotation), verify, revoke
(RFC 7009), logout, logout-all, and the caller's sessions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken

from drf_toctou import serializers
from drf_toctou.authentication import BearerRevalidatingAuthentication
from drf_toctou.exceptions import BadRequest, NotFound, NotOwner
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.sessions import end_session, forget_sessions, list_sessions
from drf_toctou.state import token_identity
from drf_toctou.tokens import VersionedRefreshToken

# Every view here declares this scope: enable DRF's ScopedRateThrottle and set
# DEFAULT_THROTTLE_RATES["drf_toctou_auth"] to rate-limit them.
THROTTLE_SCOPE = "drf_toctou_auth"


class TokenObtainPairView(jwt_views.TokenObtainPairView):
    serializer_class = serializers.TokenObtainPairSerializer
    throttle_scope = THROTTLE_SCOPE


class TokenRefreshView(jwt_views.TokenRefreshView):
    serializer_class = serializers.TokenRefreshSerializer
    throttle_scope = THROTTLE_SCOPE


class TokenVerifyView(jwt_views.TokenVerifyView):
    serializer_class = serializers.TokenVerifySerializer
    throttle_scope = THROTTLE_SCOPE


def text_field(body: Any, name: str, required: bool = True) -> str | None:
    if not isinstance(body, dict):
        raise BadRequest(str(_("The body must be a JSON object.")))
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(str(_("Field '%(name)s' must be a non-empty string.")) % {"name": name})
    return value


class TokenRevokeView(APIView):
    """RFC 7009: revoke the token in ``{"token": ...}`` — a refresh token ends
    its session. Needs no access token (one that expired can't revoke its own
    refresh token otherwise); an unknown, invalid, expired or already revoked
    token answers 200. With an access token, another user's token is 403."""

    authentication_classes = [BearerRevalidatingAuthentication]
    permission_classes = [AllowAny]
    throttle_scope = THROTTLE_SCOPE

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = text_field(request.data, "token")
        try:
            token = serializers.parse_token(raw)
            identity = token_identity(token)
        except InvalidToken:
            return Response(status=status.HTTP_200_OK)
        if request.auth is not None and token_identity(request.auth).user_id != identity.user_id:
            raise NotOwner(str(_("This token belongs to another user.")))
        serializers.revoke_with_session(token)
        return Response(status=status.HTTP_200_OK)


class AuthenticatedView(APIView):
    authentication_classes = [BearerRevalidatingAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = THROTTLE_SCOPE


class LogoutView(AuthenticatedView):
    """Revoke the access token of this request — first, whatever happens
    next — then the refresh token in the body (``{"refresh": "..."}``,
    optional, the caller's), which ends its session."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        access: Any = request.auth  # a simplejwt token (the stubs say authtoken's)
        revoke_token(access)
        identity = token_identity(access)
        raw = text_field(request.data, "refresh", required=False)
        if raw is not None:
            refresh = serializers.parse_token(raw, VersionedRefreshToken)
            if token_identity(refresh).user_id != identity.user_id:
                raise NotOwner(str(_("This refresh token belongs to another user.")))
            serializers.revoke_with_session(refresh)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(AuthenticatedView):
    """Bump the caller's version: every token issued to them so far is dead,
    and every session ends."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user_id = token_identity(request.auth).user_id
        revoke_user_tokens(user_id)
        forget_sessions(user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def moment(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat()


class SessionListView(AuthenticatedView):
    """The caller's sessions, newest first; ``current`` marks this token's."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        identity = token_identity(request.auth)
        return Response([{
            "id": s.session_id, "created": moment(s.created_at), "last_refreshed": moment(s.refreshed_at),
            "client": s.client, "ip": s.ip, "current": s.session_id == identity.session,
        } for s in list_sessions(identity.user_id)])


class SessionDetailView(AuthenticatedView):
    """End one of the caller's sessions; any other id answers 404."""

    def delete(self, request: Request, session_id: str, *args: Any, **kwargs: Any) -> Response:
        user_id = token_identity(request.auth).user_id
        if session_id not in {s.session_id for s in list_sessions(user_id)}:
            raise NotFound()
        end_session(user_id, session_id, "ended_by_user")
        return Response(status=status.HTTP_204_NO_CONTENT)


class OtherSessionsView(AuthenticatedView):
    """End every session of the caller but the current one."""

    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        identity = token_identity(request.auth)
        for record in list_sessions(identity.user_id):
            if record.session_id != identity.session:
                end_session(identity.user_id, record.session_id, "ended_by_user")
        return Response(status=status.HTTP_204_NO_CONTENT)
