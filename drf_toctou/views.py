"""Token and session endpoints (``drf_toctou.urls``): obtain a versioned pair
(opening a session), refresh (one winner per rotation), verify, revoke
(RFC 7009), logout, logout-all, and the caller's sessions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken

from drf_toctou import serializers
from drf_toctou.authentication import BearerRevalidatingAuthentication, header_types
from drf_toctou.exceptions import BadRequest, NotFound, NotOwner, with_code
from drf_toctou.revocation import revoke_token, revoke_user_tokens
from drf_toctou.sessions import end_session, forget_sessions, list_sessions
from drf_toctou.state import token_identity
from drf_toctou.tokens import VersionedRefreshToken

# Every view here declares this scope: enable DRF's ScopedRateThrottle and set
# DEFAULT_THROTTLE_RATES["drf_toctou_auth"] to rate-limit them.
THROTTLE_SCOPE = "drf_toctou_auth"


class ErrorContract:
    """The project's exception handler, plus a ``code`` next to a lone
    ``detail`` (a body that is not JSON: ``parse_error``): these views keep
    the error contract even where ``EXCEPTION_HANDLER`` is DRF's default."""

    def get_exception_handler(self) -> Any:
        handler = super().get_exception_handler()  # type: ignore[misc]

        def handle(exc: Exception, context: dict[str, Any]) -> Any:
            return with_code(handler(exc, context), exc)

        return handle


class TokenObtainPairView(ErrorContract, jwt_views.TokenObtainPairView):
    serializer_class = serializers.TokenObtainPairSerializer
    throttle_scope = THROTTLE_SCOPE

    def get_authenticate_header(self, request: Request) -> str:
        return f'{header_types()[0]} realm="{self.www_authenticate_realm}"'


class PresentedTokenChallenge:
    """A 401 of a view that judged a token from the body: RFC 6750's
    ``error="invalid_token"`` in the challenge."""

    www_authenticate_realm = "api"

    def get_authenticate_header(self, request: Request) -> str:
        return f'{header_types()[0]} realm="{self.www_authenticate_realm}", error="invalid_token"'


class TokenRefreshView(ErrorContract, PresentedTokenChallenge, jwt_views.TokenRefreshView):
    serializer_class = serializers.TokenRefreshSerializer
    throttle_scope = THROTTLE_SCOPE


class TokenVerifyView(ErrorContract, PresentedTokenChallenge, jwt_views.TokenVerifyView):
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


def caller_if_any(request: Request) -> str | None:
    """The user id of a good access token on the request, else None: an
    expired, revoked or malformed one is not a reason to refuse a revocation."""
    try:
        found = BearerRevalidatingAuthentication().authenticate(request)
    except APIException:
        return None
    return token_identity(found[1]).user_id if found else None


class TokenRevokeView(ErrorContract, APIView):
    """RFC 7009: revoke the token in ``{"token": ...}`` — a refresh token ends
    its session. Needs no access token, and one that expired or was revoked
    does not stand in the way (clients attach it by habit); an unknown,
    invalid, expired or already revoked token answers 200. With a good access
    token, another user's token is 403."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_scope = THROTTLE_SCOPE
    toctou_audit_note = "revokes the token it is given"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = text_field(request.data, "token")
        try:
            token = serializers.parse_token(raw)
            identity = token_identity(token)
        except InvalidToken:
            return Response(status=status.HTTP_200_OK)
        caller = caller_if_any(request)
        if caller is not None and caller != identity.user_id:
            raise NotOwner(str(_("This token belongs to another user.")))
        serializers.revoke_with_session(token)
        return Response(status=status.HTTP_200_OK)


class AuthenticatedView(ErrorContract, APIView):
    authentication_classes = [BearerRevalidatingAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = THROTTLE_SCOPE
    toctou_audit_note = "acts on the caller's own token state, not on objects"


class LogoutView(AuthenticatedView):
    """Revoke the access token of this request and end its session — first,
    whatever happens next — then the refresh token in the body
    (``{"refresh": "..."}``, optional, the caller's: one from before sessions,
    or from another session), which ends its session too."""

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        access: Any = request.auth  # a simplejwt token (the stubs say authtoken's)
        revoke_token(access)
        identity = token_identity(access)
        if identity.session:
            end_session(identity.user_id, identity.session, "logout")
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
